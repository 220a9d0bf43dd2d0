/*
 * task_user: who a task runs as (--switch_user, as Mesos). The user is
 * the task's CommandInfo.user, else its FrameworkInfo.user; none (or
 * --no-switch_user) runs it as the slave's own user. The slave resolves
 * the user on the loop (uid, gid, supplementary groups from the name
 * service) when the task arrives, owns the sandbox to it, and the forked
 * child calls task_user_switch() before exec — only setgroups, setgid
 * and setuid there, because the slave's child must not call the name
 * service after fork. Docker tasks get the same ids as the container's
 * --user (numeric, so the image needs no passwd entry for them).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "slave.h"
#include "log.h"
#include "mem.h"

#define TASK_USER_MAX_GROUPS 256

const char *task_user_name(const struct task *t)
{
    const Mesos__V1__CommandInfo *cmd = t->info->command;

    if (cmd != NULL && cmd->user != NULL && cmd->user[0] != '\0')
        return cmd->user;
    if (t->fw->info->user != NULL && t->fw->info->user[0] != '\0')
        return t->fw->info->user;
    return NULL;
}

int task_user_resolve(struct slave *s, struct task *t, char **err)
{
    const char *name = task_user_name(t);
    struct passwd *pw;
    struct task_user *u;
    int ngroups = TASK_USER_MAX_GROUPS;
    gid_t groups[TASK_USER_MAX_GROUPS];
    uid_t self = geteuid();

    if (!s->flags->switch_user || name == NULL)
        return 0;
    errno = 0;
    pw = getpwnam(name);
    if (pw == NULL) {
        if (errno != 0 && errno != ENOENT && errno != ESRCH)
            *err = xasprintf("cannot look up user '%s': %s", name, strerror(errno));
        else
            *err = xasprintf("user '%s' does not exist on this slave", name);
        return -1;
    }
    if (self != 0) {
        if (pw->pw_uid == self)
            return 0; /* already that user: nothing to switch */
        *err = xasprintf("cannot run the task as user '%s': this slave does not run as root "
                         "(run it as root, or with --no-switch_user to run tasks as the slave's "
                         "own user)",
                         name);
        return -1;
    }
    if (getgrouplist(pw->pw_name, pw->pw_gid, groups, &ngroups) < 0) {
        log_warn("user '%s' is in more than %d groups: the first %d are kept", name,
                 TASK_USER_MAX_GROUPS, TASK_USER_MAX_GROUPS);
        ngroups = TASK_USER_MAX_GROUPS;
    }
    u = xcalloc(1, sizeof(*u));
    u->name = xstrdup(pw->pw_name);
    u->home = xstrdup(pw->pw_dir ? pw->pw_dir : "/");
    u->uid = pw->pw_uid;
    u->gid = pw->pw_gid;
    u->ngroups = (size_t)ngroups;
    u->groups = xcalloc(u->ngroups + 1, sizeof(gid_t));
    memcpy(u->groups, groups, u->ngroups * sizeof(gid_t));
    t->user = u;
    return 0;
}

int task_user_own_sandbox(const struct task *t, char **err)
{
    if (t->user == NULL)
        return 0;
    if (chown(t->sandbox, t->user->uid, t->user->gid) < 0) {
        *err = xasprintf("cannot give sandbox %s to user '%s': %s", t->sandbox, t->user->name,
                         strerror(errno));
        return -1;
    }
    return 0;
}

int task_user_switch(const struct task_user *u)
{
    if (u == NULL)
        return 0;
    /* Groups first: after setuid the process may no longer change them. */
    if (setgroups(u->ngroups, u->groups) < 0 || setgid(u->gid) < 0 || setuid(u->uid) < 0)
        return -1;
    return 0;
}

void task_user_free(struct task_user *u)
{
    if (u == NULL)
        return;
    free(u->name);
    free(u->home);
    free(u->groups);
    free(u);
}
