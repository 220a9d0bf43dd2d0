/*
 * proc.c: the master's process figures for agora-bench — finding its pid
 * from the port it listens on (/proc/net/tcp -> socket inode -> the
 * process holding that inode) and reading its RSS and CPU time from
 * /proc/<pid>/status and /proc/<pid>/stat.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bench.h"

/* Inode of the socket listening on port (state 0A = LISTEN), 0 if none. */
static unsigned long listen_inode(int port)
{
    FILE *f = fopen("/proc/net/tcp", "r");
    char line[512];
    unsigned long inode = 0;
    if (!f)
        return 0;
    if (!fgets(line, sizeof(line), f)) {
        fclose(f);
        return 0;
    }
    while (fgets(line, sizeof(line), f)) {
        unsigned int lport, st;
        unsigned long ino;
        char local[64];
        if (sscanf(line, "%*d: %63[0-9A-Fa-f]:%x %*s %x %*s %*s %*s %*s %*s %lu", local, &lport,
                   &st, &ino) != 4)
            continue;
        if ((int)lport == port && st == 0x0A) {
            inode = ino;
            break;
        }
    }
    fclose(f);
    return inode;
}

int bench_find_master_pid(int port)
{
    unsigned long inode = listen_inode(port);
    char want[64];
    int found = -1;
    if (!inode)
        return -1;
    snprintf(want, sizeof(want), "socket:[%lu]", inode);
    DIR *proc = opendir("/proc");
    if (!proc)
        return -1;
    struct dirent *de;
    while (found < 0 && (de = readdir(proc))) {
        int pid = atoi(de->d_name);
        if (pid <= 0)
            continue;
        char path[64];
        snprintf(path, sizeof(path), "/proc/%d/fd", pid);
        DIR *fds = opendir(path);
        if (!fds)
            continue; /* another user's process */
        struct dirent *fe;
        while ((fe = readdir(fds))) {
            char link[320], target[64];
            snprintf(link, sizeof(link), "%s/%s", path, fe->d_name);
            ssize_t n = readlink(link, target, sizeof(target) - 1);
            if (n <= 0)
                continue;
            target[n] = '\0';
            if (strcmp(target, want) == 0) {
                found = pid;
                break;
            }
        }
        closedir(fds);
    }
    closedir(proc);
    return found;
}

int bench_proc_usage(int pid, double *rss_mb, double *cpu_s)
{
    char path[64], buf[4096];
    snprintf(path, sizeof(path), "/proc/%d/stat", pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    size_t n = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    buf[n] = '\0';
    /* Fields after the command name, which may hold spaces: skip to ')'. */
    char *p = strrchr(buf, ')');
    if (!p)
        return -1;
    unsigned long utime, stime;
    long rss_pages;
    if (sscanf(p + 2,
               "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu %*d %*d %*d %*d %*d "
               "%*d %*u %*u %ld",
               &utime, &stime, &rss_pages) != 3)
        return -1;
    long hz = sysconf(_SC_CLK_TCK);
    *cpu_s = (double)(utime + stime) / (double)hz;
    *rss_mb = (double)rss_pages * (double)sysconf(_SC_PAGESIZE) / (1024.0 * 1024.0);
    return 0;
}
