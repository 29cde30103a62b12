/* child.c - command mode: run CMD with its stdout and stderr on two pipes.
 *
 * A third, close-on-exec pipe tells the parent whether execvp worked: it
 * reads EOF when the exec closed it, or the errno the child wrote before
 * exiting 127. The child gets the default dispositions and an empty
 * signal mask back (bcast-emit ignores SIGPIPE and catches INT/TERM/CHLD),
 * and keeps bcast-emit's stdin. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "emit.h"

static void child_exec(char *const argv[], int out[2], int err[2], int st[2])
{
	static const int sigs[] = { SIGPIPE, SIGINT, SIGTERM, SIGCHLD, SIGHUP };
	sigset_t none;
	int e;

	for (size_t i = 0; i < sizeof sigs / sizeof sigs[0]; i++)
		signal(sigs[i], SIG_DFL);
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	if (dup2(out[1], STDOUT_FILENO) < 0 || dup2(err[1], STDERR_FILENO) < 0)
		goto fail;
	close(out[0]);
	close(err[0]);
	close(st[0]);
	if (out[1] != STDOUT_FILENO)
		close(out[1]);
	if (err[1] != STDERR_FILENO)
		close(err[1]);
	execvp(argv[0], argv);
fail:
	e = errno;
	while (write(st[1], &e, sizeof e) < 0 && errno == EINTR)
		;
	_exit(127);
}

int child_spawn(char *const argv[], struct child *c)
{
	int out[2] = { -1, -1 }, err[2] = { -1, -1 }, st[2] = { -1, -1 };
	int e = 0;
	ssize_t n;

	if (pipe2(out, O_CLOEXEC) != 0 || pipe2(err, O_CLOEXEC) != 0 ||
	    pipe2(st, O_CLOEXEC) != 0)
		goto fail;
	c->pid = fork();
	if (c->pid < 0)
		goto fail;
	if (c->pid == 0)
		child_exec(argv, out, err, st);
	close(out[1]);
	close(err[1]);
	close(st[1]);
	out[1] = err[1] = st[1] = -1;
	do
		n = read(st[0], &e, sizeof e);
	while (n < 0 && errno == EINTR);
	close(st[0]);
	st[0] = -1;
	if (n > 0) {
		int status;
		while (waitpid(c->pid, &status, 0) < 0 && errno == EINTR)
			;
		c->pid = -1;
		goto fail_errno;
	}
	c->out = out[0];
	c->err = err[0];
	return 0;
fail:
	e = errno;
fail_errno:
	for (int i = 0; i < 2; i++) {
		if (out[i] >= 0)
			close(out[i]);
		if (err[i] >= 0)
			close(err[i]);
		if (st[i] >= 0)
			close(st[i]);
	}
	errno = e;
	return -1;
}

int child_reap(struct child *c, bool block, int *status)
{
	pid_t p;

	if (c->pid <= 0)
		return -1;
	do
		p = waitpid(c->pid, status, block ? 0 : WNOHANG);
	while (p < 0 && errno == EINTR);
	if (p < 0)
		return -1;
	if (p == 0)
		return 0;
	c->pid = -1;
	return 1;
}
