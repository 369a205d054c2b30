/* The victim of tests/fault/test-faultinj.sh: makes a fixed sequence of
 * the calls faultinj counts and prints one line per call,
 *     CALL RESULT ERRNO
 * (ERRNO is "-" on success), so that the test can see which call faulted.
 * It carries on after a failure.  Usage: test-faultinj DIR
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <unistd.h>

static void
report(const char *call, long rc)
{
    printf("%s %ld %s\n", call, rc, rc < 0 ? strerrorname_np(errno) : "-");
}

static char *
join(const char *dir, const char *name)
{
    char *p;

    if (asprintf(&p, "%s/%s", dir, name) < 0) {
        exit(2);
    }
    return p;
}

int
main(int argc, char **argv)
{
    static const char data[] = "0123456789";
    struct iovec iov[2] = {{(void *)data, 4}, {(void *)(data + 4), 6}};
    char *a, *b, *c;
    int fd, null, i, status, sv[2];
    char call[32];
    pid_t pid;
    struct stat st;

    if (argc != 2) {
        fprintf(stderr, "usage: test-faultinj DIR\n");
        return 2;
    }
    setvbuf(stdout, NULL, _IOLBF, 0);
    a = join(argv[1], "a");
    b = join(argv[1], "b");
    c = join(argv[1], "c");

    fd = open(a, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    report("creat", fd);
    for (i = 1; i <= 5; i++) {
        snprintf(call, sizeof(call), "write%d", i);
        report(call, write(fd, data, sizeof(data) - 1));
    }
    null = open("/dev/null", O_WRONLY);
    report("open-null", null);
    report("write-null", write(null, data, 4));
    report("write-null", write(null, data, 4));
    report("pwrite", pwrite(fd, data, 10, 100));
    report("writev", writev(fd, iov, 2));
    report("fsync", fsync(fd));
    report("fdatasync", fdatasync(fd));
    report("close", close(fd));
    report("stat-size", stat(a, &st) == 0 ? (long)st.st_size : -1);
    report("rename", rename(a, b));
    fd = open(b, O_RDONLY);
    report("open-ro", fd);
    close(fd);
    report("mkdir", mkdir(c, 0700));
    report("unlink", unlink(b));
    report("rmdir", rmdir(c));
    if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) < 0) {
        return 2;
    }
    report("send", send(sv[0], data, 3, 0));
    report("write-socket", write(sv[0], data, 3));
    close(sv[0]);
    close(sv[1]);

    fflush(stdout);
    pid = fork();
    if (pid == 0) {
        char *const args[] = {"true", NULL};

        execvp(args[0], args);
        _exit(127);
    }
    if (pid < 0 || waitpid(pid, &status, 0) < 0) {
        report("exec", -1);
    } else {
        report("exec", WIFEXITED(status) ? WEXITSTATUS(status) : 128);
    }
    close(null);
    free(a);
    free(b);
    free(c);
    return 0;
}
