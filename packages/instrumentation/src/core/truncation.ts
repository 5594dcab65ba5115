/*
 * Bounding captured content: each attribute's JSON stays valid, at most `maxLength` long (markers included), and
 * says where it was shortened. In order, until it fits:
 *   1. entries that cannot fit even when shortened are dropped first: the oldest messages (the first kept one
 *      gets `"truncated_messages": <count>`), or the last parts/tool definitions (the last kept one gets
 *      `"truncated": true`). This walk starts at the entries that are kept, so a long history costs what the
 *      kept part costs, not what the whole history costs;
 *   2. the longest texts (text/reasoning content, tool responses, tool descriptions) are cut down to one common
 *      length, but not below `MIN_KEPT_TEXT`, marking each cut part `"truncated": true`;
 *   3. tool-call `arguments`, tool `parameters` and structured tool responses are dropped, largest first;
 *   4. when a single entry is left and still too long: its texts are cut further, then its parts dropped from
 *      the end.
 * The entries are modified in place: they are the instrumentation's own copies. Linear in the size of the kept
 * content.
 */

type Entry = Record<string, unknown>;

interface Slot {
  owner: Entry;
  key: string;
}

/** The JSON and the entries it was made from, for the span attribute and the log record alike. */
export interface BoundedContent {
  json: string;
  entries: Entry[];
}

const TRUNCATED = 'truncated';
const TRUNCATED_MESSAGES = 'truncated_messages';
/** Length of `,"truncated":true`, which marking a part adds. */
const MARK_LENGTH = 17;
/** Length of `,"truncated_messages":`, before the count. */
const DROPPED_MARK_LENGTH = 22;
/** Texts are not cut below this before dropping data: the latest turns matter most. */
export const MIN_KEPT_TEXT = 256;
const MAX_PASSES = 4;
const PART_TEXT_TYPES = new Set(['text', 'reasoning']);

/**
 * `entries` shortened in place until their JSON is at most `maxLength` characters. `messages` tells whether the
 * entries are chat messages (the oldest are dropped first) rather than parts or tool definitions (the last
 * are dropped first).
 */
export function boundEntries(entries: Entry[], maxLength: number, messages: boolean): BoundedContent {
  const lengths = new EntryLengths(entries, messages);
  if (fitsAsIs(lengths, maxLength)) return { json: JSON.stringify(entries), entries };
  let kept = dropWhatCannotFit(lengths, maxLength);
  let json = shortenTexts(kept, maxLength, MIN_KEPT_TEXT);
  if (json.length > maxLength) json = dropBulk(kept, maxLength, json);
  if (json.length > maxLength && kept.length > 1) {
    kept = keepNewest(kept, 1, messages);
    json = JSON.stringify(kept);
  }
  if (json.length > maxLength) json = shortenTexts(kept, maxLength, 0);
  if (json.length > maxLength) json = dropLastParts(kept, maxLength);
  if (json.length > maxLength) return { json: '[]', entries: [] };
  return { json, entries: kept };
}

/**
 * The JSON length of each entry, walked from the end that is kept (the newest message, or the first part) and
 * computed only as far as a walk goes.
 */
class EntryLengths {
  private readonly lengths: number[] = [];

  constructor(
    readonly entries: Entry[],
    readonly messages: boolean,
  ) {}

  get count(): number {
    return this.entries.length;
  }

  /** The `n`-th entry in keeping order. */
  entry(n: number): Entry {
    return this.entries[this.messages ? this.entries.length - 1 - n : n]!;
  }

  length(n: number): number {
    let length = this.lengths[n];
    if (length === undefined) {
      length = JSON.stringify(this.entry(n)).length;
      this.lengths[n] = length;
    }
    return length;
  }
}

/** Whether the JSON fits, measured from the end that is kept, stopping as soon as it is too long. */
function fitsAsIs(lengths: EntryLengths, maxLength: number): boolean {
  let length = 1;
  for (let n = 0; n < lengths.count; n++) {
    length += lengths.length(n) + 1;
    if (length > maxLength) return false;
  }
  return true;
}

/**
 * The entries that can fit once shortened (texts at `MIN_KEPT_TEXT`, bulk dropped), newest first for messages.
 * Shortening never goes below that size before entries are dropped, so everything beyond them is dropped anyway.
 */
function dropWhatCannotFit(lengths: EntryLengths, maxLength: number): Entry[] {
  const budget = maxLength - DROPPED_MARK_LENGTH - String(lengths.count).length;
  let length = 1;
  let count = 0;
  while (count < lengths.count) {
    length += shortenedLength(lengths.entry(count), lengths.length(count)) + 1;
    if (length > budget) break;
    count++;
  }
  return keepNewest(lengths.entries, Math.max(count, 1), lengths.messages);
}

/** The first `count` entries to keep (the newest messages, or the first parts), with the drop marked. */
function keepNewest(entries: Entry[], count: number, messages: boolean): Entry[] {
  if (count >= entries.length) return entries;
  const dropped = entries.length - count;
  const kept = messages ? entries.slice(dropped) : entries.slice(0, count);
  if (messages) kept[0]![TRUNCATED_MESSAGES] = dropped + ((kept[0]![TRUNCATED_MESSAGES] as number | undefined) ?? 0);
  else kept[kept.length - 1]![TRUNCATED] = true;
  return kept;
}

/** The JSON length of `entry` once its texts are cut to `MIN_KEPT_TEXT` and its bulk dropped (computed, not built). */
function shortenedLength(entry: Entry, fullLength: number): number {
  let length = fullLength;
  if (length <= MIN_KEPT_TEXT && !hasBulk(entry)) return length;
  const marked = new Set<Entry>();
  const parts = partsOf([entry]);
  for (const slot of textSlots(parts)) {
    const text = slot.owner[slot.key] as string;
    if (text.length <= MIN_KEPT_TEXT) continue;
    length -= JSON.stringify(text).length - JSON.stringify(cut(text, MIN_KEPT_TEXT)).length;
    marked.add(slot.owner);
  }
  for (const slot of bulkSlots(parts)) {
    length -= slot.key.length + 4 + (JSON.stringify(slot.owner[slot.key])?.length ?? 0);
    marked.add(slot.owner);
  }
  for (const owner of marked) if (owner[TRUNCATED] !== true) length += MARK_LENGTH;
  return length;
}

function shortenTexts(entries: Entry[], maxLength: number, floor: number): string {
  let json = JSON.stringify(entries);
  const slots = textSlots(partsOf(entries));
  for (let pass = 0; pass < MAX_PASSES && slots.length > 0 && json.length > maxLength; pass++) {
    const cap = Math.max(floor, commonLength(slots, json.length - maxLength));
    let changed = false;
    for (const slot of slots) {
      const text = slot.owner[slot.key] as string;
      if (text.length <= cap) continue;
      slot.owner[slot.key] = cut(text, cap);
      slot.owner[TRUNCATED] = true;
      changed = true;
    }
    if (!changed) break;
    json = JSON.stringify(entries);
  }
  return json;
}

/** The longest length every text may keep so that cutting the longer ones (and marking them) saves `excess`. */
function commonLength(slots: Slot[], excess: number): number {
  const lengths = slots.map((slot) => (slot.owner[slot.key] as string).length).sort((a, b) => b - a);
  // Cutting the k longest texts to `cap` saves sum(L1..Lk) - k * cap - k * MARK_LENGTH: the largest cap whose
  // saving covers the excess is found at the first k for which it does not cut the (k+1)-th text too.
  let sum = 0;
  for (let k = 1; k <= lengths.length; k++) {
    sum += lengths[k - 1]!;
    const cap = Math.floor((sum - k * MARK_LENGTH - excess) / k);
    if (cap >= (lengths[k] ?? 0)) return Math.max(0, cap);
  }
  return 0;
}

/** Cuts to `length` without leaving half a surrogate pair (which JSON would escape into six characters). */
function cut(text: string, length: number): string {
  if (length <= 0) return '';
  const code = text.charCodeAt(length - 1);
  return text.slice(0, code >= 0xd800 && code <= 0xdbff ? length - 1 : length);
}

function dropBulk(entries: Entry[], maxLength: number, json: string): string {
  const slots = bulkSlots(partsOf(entries))
    .map((slot) => ({ slot, size: slot.key.length + 4 + (JSON.stringify(slot.owner[slot.key])?.length ?? 0) }))
    .sort((a, b) => b.size - a.size);
  let length = json.length;
  let changed = false;
  for (const { slot, size } of slots) {
    if (length <= maxLength) break;
    delete slot.owner[slot.key];
    length -= size;
    if (slot.owner[TRUNCATED] !== true) {
      slot.owner[TRUNCATED] = true;
      length += MARK_LENGTH;
    }
    changed = true;
  }
  return changed ? JSON.stringify(entries) : json;
}

function dropLastParts(entries: Entry[], maxLength: number): string {
  const entry = entries[0];
  const parts = entry?.parts;
  let json = JSON.stringify(entries);
  if (!Array.isArray(parts)) return json;
  const sizes = parts.map((part) => JSON.stringify(part).length + 1);
  let length = json.length + (entry![TRUNCATED] === true ? 0 : MARK_LENGTH);
  let keep = parts.length;
  while (keep > 0 && length > maxLength) length -= sizes[--keep]!;
  if (keep < parts.length) {
    parts.length = keep;
    entry![TRUNCATED] = true;
    json = JSON.stringify(entries);
  }
  return json;
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

function textSlots(parts: Entry[]): Slot[] {
  const slots: Slot[] = [];
  for (const part of parts) {
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

function hasBulk(entry: Entry): boolean {
  return bulkSlots(partsOf([entry])).length > 0;
}

function bulkSlots(parts: Entry[]): Slot[] {
  const slots: Slot[] = [];
  for (const part of parts) {
    if (part.type === 'tool_call' && part.arguments !== undefined) slots.push({ owner: part, key: 'arguments' });
    if (part.type === 'tool_call_response' && part.response !== undefined && typeof part.response !== 'string') {
      slots.push({ owner: part, key: 'response' });
    }
    if (part.parameters !== undefined) slots.push({ owner: part, key: 'parameters' });
  }
  return slots;
}
