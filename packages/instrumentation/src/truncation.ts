/*
 * Bounding captured content: each attribute's JSON must stay valid and at most `maxLength` long, and say where
 * it was shortened. In order, until it fits:
 *   1. cut the longest texts (text/reasoning content, tool responses, tool descriptions) down to one common
 *      length, but not below `MIN_KEPT_TEXT`, marking each cut part `"truncated": true`;
 *   2. drop tool-call `arguments` and tool `parameters`, largest first, marking their owner;
 *   3. drop whole entries: the oldest messages (the first kept one gets `"truncated_messages": <count>`), or
 *      the last parts/tool definitions (the last kept one gets `"truncated": true`);
 *   4. cut the remaining texts further, down to nothing if need be;
 *   5. drop the parts of the one remaining message from the end, marking the message.
 * The entries are modified in place: they are the instrumentation's own copies.
 */

type Entry = Record<string, unknown>;

interface Slot {
  owner: Entry;
  key: string;
}

const TRUNCATED = 'truncated';
const TRUNCATED_MESSAGES = 'truncated_messages';
/** Length of `,"truncated":true`, which marking a part adds. */
const MARK_LENGTH = 17;
const MAX_SHORTEN_PASSES = 3;
/** Texts are not cut below this before older messages are dropped: the latest turns matter most. */
const MIN_KEPT_TEXT = 256;
const PART_TEXT_TYPES = new Set(['text', 'reasoning']);

/**
 * JSON of `entries`, shortened in place to at most `maxLength` characters. `messages` tells whether the entries
 * are chat messages (dropped oldest first) rather than parts or tool definitions (dropped from the end).
 */
export function boundedJson(entries: Entry[], maxLength: number, messages: boolean): string {
  let json = JSON.stringify(entries);
  if (json.length <= maxLength) return json;
  json = shortenTexts(entries, maxLength, json, MIN_KEPT_TEXT);
  if (json.length <= maxLength) return json;
  json = dropBulk(entries, maxLength, json);
  if (json.length <= maxLength) return json;
  json = dropEntries(entries, maxLength, messages);
  if (json.length <= maxLength) return json;
  json = shortenTexts(entries, maxLength, json, 0);
  if (json.length <= maxLength) return json;
  return dropLastParts(entries, maxLength);
}

function shortenTexts(entries: Entry[], maxLength: number, json: string, floor: number): string {
  const slots = textSlots(entries);
  for (let pass = 0; pass < MAX_SHORTEN_PASSES && slots.length > 0 && json.length > maxLength; pass++) {
    const cap = Math.max(floor, commonLength(slots, json.length - maxLength));
    for (const slot of slots) {
      const text = slot.owner[slot.key] as string;
      if (text.length <= cap) continue;
      slot.owner[slot.key] = cut(text, cap);
      slot.owner[TRUNCATED] = true;
    }
    json = JSON.stringify(entries);
  }
  return json;
}

/** The longest length every text may keep so that cutting the longer ones (and marking them) saves `excess`. */
function commonLength(slots: Slot[], excess: number): number {
  let low = 0;
  let high = 0;
  for (const slot of slots) high = Math.max(high, (slot.owner[slot.key] as string).length);
  const saved = (cap: number) => {
    let total = 0;
    for (const slot of slots) {
      const length = (slot.owner[slot.key] as string).length;
      if (length > cap) total += length - cap + (slot.owner[TRUNCATED] === true ? 0 : MARK_LENGTH);
    }
    return total;
  };
  if (saved(0) < excess) return 0;
  while (low < high) {
    const mid = Math.ceil((low + high) / 2);
    if (saved(mid) >= excess) low = mid;
    else high = mid - 1;
  }
  return low;
}

/** Cuts to `length` without leaving half a surrogate pair (which JSON would escape into six characters). */
function cut(text: string, length: number): string {
  const code = text.charCodeAt(length - 1);
  return text.slice(0, code >= 0xd800 && code <= 0xdbff ? length - 1 : length);
}

function dropBulk(entries: Entry[], maxLength: number, json: string): string {
  const slots = bulkSlots(entries)
    .map((slot) => ({ slot, size: JSON.stringify(slot.owner[slot.key])?.length ?? 0 }))
    .sort((a, b) => b.size - a.size);
  for (const { slot } of slots) {
    if (json.length <= maxLength) break;
    delete slot.owner[slot.key];
    slot.owner[TRUNCATED] = true;
    json = JSON.stringify(entries);
  }
  return json;
}

function dropEntries(entries: Entry[], maxLength: number, messages: boolean): string {
  let total = JSON.stringify(entries).length;
  let dropped = 0;
  while (entries.length > 1 && total > maxLength) {
    const removed = messages ? entries.shift()! : entries.pop()!;
    total -= JSON.stringify(removed).length + 1;
    dropped++;
  }
  if (dropped > 0) {
    if (messages) entries[0]![TRUNCATED_MESSAGES] = dropped + ((entries[0]![TRUNCATED_MESSAGES] as number) ?? 0);
    else entries[entries.length - 1]![TRUNCATED] = true;
  }
  return JSON.stringify(entries);
}

function dropLastParts(entries: Entry[], maxLength: number): string {
  const parts = entries[0]?.parts;
  let json = JSON.stringify(entries);
  if (!Array.isArray(parts)) return json.length <= maxLength ? json : '[]';
  while (parts.length > 0 && json.length > maxLength) {
    parts.pop();
    entries[0]![TRUNCATED] = true;
    json = JSON.stringify(entries);
  }
  return json.length <= maxLength ? json : '[]';
}

/** The parts of the entries (a message's parts, or the entry itself when it is a part or tool definition). */
function partsOf(entries: Entry[]): Entry[] {
  const parts: Entry[] = [];
  for (const entry of entries) {
    if (Array.isArray(entry.parts)) {
      for (const part of entry.parts) if (typeof part === 'object' && part !== null) parts.push(part as Entry);
    } else {
      parts.push(entry);
    }
  }
  return parts;
}

function textSlots(entries: Entry[]): Slot[] {
  const slots: Slot[] = [];
  for (const part of partsOf(entries)) {
    const key = textKey(part);
    if (key !== undefined && typeof part[key] === 'string' && (part[key] as string).length > 0) {
      slots.push({ owner: part, key });
    }
  }
  return slots;
}

function textKey(part: Entry): string | undefined {
  if (PART_TEXT_TYPES.has(part.type as string)) return 'content';
  if (part.type === 'tool_call_response') return 'response';
  if (typeof part.description === 'string') return 'description';
  return undefined;
}

function bulkSlots(entries: Entry[]): Slot[] {
  const slots: Slot[] = [];
  for (const part of partsOf(entries)) {
    if (part.type === 'tool_call' && part.arguments !== undefined) slots.push({ owner: part, key: 'arguments' });
    if (part.parameters !== undefined) slots.push({ owner: part, key: 'parameters' });
  }
  return slots;
}
