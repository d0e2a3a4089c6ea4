// Exactly once to the page: the figures shown are always one snapshot plus its deltas, in order.
// A live snapshot carries the app process's `epoch` and the day's `seq` it holds; each delta is step
// `seq`. A delta that is not the next step (a reconnect, dropped deltas, another app process) is not
// applied: the page asks for a fresh snapshot and applies nothing until it comes.

import { isInt } from "./format.js";

export class Sequence {
  constructor() {
    this.resyncs = 0; // snapshots asked for because a delta was out of sequence, over the page's life
    this.reset();
  }

  // A new socket: its first snapshot starts the count.
  reset() {
    this.epoch = null;
    this.seq = null;
    this.waiting = false; // a resync was asked for: nothing applies before its snapshot
  }

  // A message could not be applied (malformed): what follows it cannot be either, until a snapshot.
  lost() {
    this.waiting = true;
  }

  // "apply", "skip" (wait for the snapshot already asked for) or "resync" (ask for one now).
  check(msg) {
    if (!msg || (msg.type !== "snapshot" && msg.type !== "delta")) return "apply";
    const sequenced = typeof msg.epoch === "string" && isInt(msg.seq);
    if (msg.type === "snapshot") {
      this.epoch = sequenced ? msg.epoch : null;
      this.seq = sequenced ? msg.seq : null;
      this.waiting = false;
      return "apply";
    }
    if (this.waiting) return "skip";
    // A replay's socket plays one viewer's own clock and numbers nothing: its deltas follow in order.
    if (!sequenced && this.epoch === null) return "apply";
    if (sequenced && msg.epoch === this.epoch && msg.seq === this.seq + 1) {
      this.seq = msg.seq;
      return "apply";
    }
    this.waiting = true;
    this.resyncs += 1;
    return "resync";
  }
}
