// The jobs stream's entries out of Redis replies (XREADGROUP, XAUTOCLAIM,
// XPENDING),
// with every level of the reply checked for the shape the command
// promises: a reply of another shape is no entry, never a crash.
#pragma once

#include <hiredis/hiredis.h>

#include <optional>
#include <string>

namespace nixery::queue {

// One entry: its id and the text of its "job" field (empty when it has
// none, or when the entry was deleted and its fields are nil).
struct StreamEntry {
    std::string id;
    std::string job_text;
};

// The entry in an XREADGROUP ... COUNT 1 reply, [[stream, [[id, [field,
// value, ...]]]]]; nullopt on a timeout (nil) or any other shape.
std::optional<StreamEntry> read_group_entry(const redisReply* reply);

// The entry in an XAUTOCLAIM ... COUNT 1 reply, [cursor, [[id, fields]]]
// (and the deleted ids since Redis 7), setting `cursor` to the reply's
// next cursor when the reply has that shape.
std::optional<StreamEntry> autoclaim_entry(const redisReply* reply,
                                           std::string& cursor);

// How many times the one entry of an XPENDING key - + 1 reply ([[id,
// consumer, idle ms, deliveries]]) was delivered; nullopt for any other
// shape.
std::optional<long long> pending_deliveries(const redisReply* reply);

} // namespace nixery::queue
