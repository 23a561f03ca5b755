/*
 * policy_store.h - publishes the active policy generation to every thread.
 *
 * One store per supervisor, created by service/ and handed to the halves.
 * Readers (proxy workers, once per connection or request) pin the current
 * generation with osh_policy_store_acquire(): lock-free, no syscall, a few
 * atomic operations.  The orchestrator publishes a new, fully validated
 * generation with osh_policy_store_publish(); readers that already pinned
 * the old one keep it until they unref it, so an open tunnel keeps the
 * generation it started with.
 *
 * DESIGN: a pointer plus a reader counter ("pass the buck" lite).  A reader
 * announces itself, loads the pointer, takes a reference and leaves; a
 * publisher swaps the pointer and waits until no announced reader can still
 * be between "load" and "reference" before dropping the store's own
 * reference to the old generation.  Publishes are rare (a policy reload), so
 * the publisher may spin-yield; readers never wait.  Chosen over liburcu to
 * avoid a dependency that Debian ships without TSan instrumentation.
 */
#ifndef OSH_POLICY_STORE_H
#define OSH_POLICY_STORE_H

#include <stdint.h>

#include "osh/policy.h"

struct osh_policy_store;

/* Takes ownership of one reference to `initial` (may not be NULL).
 * NULL + errno on allocation failure (the reference is then dropped). */
struct osh_policy_store *osh_policy_store_new(struct osh_policy *initial);

/* Drops the store's reference; no reader may use the store afterwards. */
void osh_policy_store_free(struct osh_policy_store *s);

/* Returns the current generation with a new reference (never NULL); the
 * caller unrefs it.  Any thread, lock-free. */
struct osh_policy *osh_policy_store_acquire(struct osh_policy_store *s);

/* Makes `next` current (takes ownership of one reference) and drops the
 * store's reference to the previous one; returns the new generation number
 * (starts at 0, +1 per publish).  Publishers are serialized internally. */
uint64_t osh_policy_store_publish(struct osh_policy_store *s, struct osh_policy *next);

/* Current generation number (relaxed read, for status and logs). */
uint64_t osh_policy_store_generation(const struct osh_policy_store *s);

#endif /* OSH_POLICY_STORE_H */
