/*
 * aggregator.h - the orchestrator's consumer of the denial and activity
 * rings: one thread that drains both, writes each denial as an OCSF
 * shorthand line, and keeps the counters that status reports.
 *
 * Lifecycle: aggregator_start() -> aggregator_stop() (drains what is left,
 * joins).  The rings are borrowed and must outlive the aggregator.
 */
#ifndef OSH_SERVICE_AGGREGATOR_H
#define OSH_SERVICE_AGGREGATOR_H

#include <stdint.h>

#include "osh/events.h"
#include "osh/ring.h"

struct aggregator;

struct aggregator_stats {
    uint64_t denials;
    uint64_t activity;
    uint64_t activity_denied;
    uint64_t by_group[OSH_DENY_GROUP_COUNT];
    uint64_t dropped_denials;  /* ring full */
    uint64_t dropped_activity;
};

struct aggregator *aggregator_start(struct osh_ring *denials, struct osh_ring *activity);
void aggregator_stop(struct aggregator *a);
void aggregator_get_stats(struct aggregator *a, struct aggregator_stats *out);

#endif /* OSH_SERVICE_AGGREGATOR_H */
