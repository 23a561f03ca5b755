/*
 * proxy_pool.c - the decision pool: a few threads that do the blocking part
 * of a decision (walking /proc for the caller's identity, hashing a new
 * binary, getaddrinfo) so that no worker ever waits.  A job holds the
 * connection until it is handed back through the owning worker's
 * completion list, signalled with its eventfd.
 */
#include <errno.h>
#include <stdlib.h>
#include <unistd.h>

#include "proxy_int.h"

void
pool_submit(struct proxy *px, struct conn *c)
{
    struct job *j = malloc(sizeof(*j));

    if (j == NULL) {
        /* Cannot defer: decide inline rather than drop the client. */
        c->job_out = false;
        decide(px, c);
        conn_on_decided(c);
        return;
    }
    j->c = c;
    j->next = NULL;
    pthread_mutex_lock(&px->q_lock);
    if (px->q_tail)
        px->q_tail->next = j;
    else
        px->q_head = j;
    px->q_tail = j;
    pthread_cond_signal(&px->q_cond);
    pthread_mutex_unlock(&px->q_lock);
}

/* Hands a finished job back to the connection's worker. */
static void
pool_finish(struct job *j)
{
    struct worker *w = j->c->w;
    uint64_t one = 1;

    pthread_mutex_lock(&w->done_lock);
    j->next = w->done;
    w->done = j;
    pthread_mutex_unlock(&w->done_lock);
    (void)!write(w->wakefd, &one, sizeof(one));
}

void *
pool_thread(void *arg)
{
    struct proxy *px = arg;

    for (;;) {
        struct job *j;
        pthread_mutex_lock(&px->q_lock);
        while (px->q_head == NULL && !px->q_stop)
            pthread_cond_wait(&px->q_cond, &px->q_lock);
        if (px->q_head == NULL) {
            pthread_mutex_unlock(&px->q_lock);
            return NULL;
        }
        j = px->q_head;
        px->q_head = j->next;
        if (px->q_head == NULL)
            px->q_tail = NULL;
        pthread_mutex_unlock(&px->q_lock);
        /* A connection closed meanwhile still gets its job back (the
         * worker frees it); skip the work. */
        if (!j->c->dead)
            decide(px, j->c);
        pool_finish(j);
    }
}
