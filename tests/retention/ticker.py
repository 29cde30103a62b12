#!/usr/bin/env python3
"""ticker.py STOPFILE - one line every 10 ms on stdout until STOPFILE exists."""
import os
import sys
import time

n = 0
while not os.path.exists(sys.argv[1]):
    n += 1
    print("tick %d" % n, flush=True)
    time.sleep(0.01)
