/*
 * task_state: facts about mesos.v1.TaskState shared by master, slave and
 * the scheduler library.
 */
#ifndef AGORA_TASK_STATE_H
#define AGORA_TASK_STATE_H

#include <stdbool.h>
#include "mesos.pb-c.h"

/* True for states a task never leaves (FINISHED, FAILED, KILLED, ERROR,
 * LOST, DROPPED, GONE, GONE_BY_OPERATOR). UNREACHABLE and UNKNOWN are not
 * terminal: the task may come back. */
bool task_state_terminal(Mesos__V1__TaskState s);
/* The enum value's proto name ("TASK_RUNNING"); static storage. */
const char *task_state_name(Mesos__V1__TaskState s);

#endif
