// The end-of-day projection beside net sales: app/projection.py's project() in the same exact integers
// (BigInt), so the page shows the cents /api/snapshot?compare= gives. How it is worked out is said there.

import { formatDollars, isInt } from "./format.js";

const K_NUM = 1n, K_DEN = 20n; // today's share done may stray K·√(s·(1 − s)) from the compare day's
const MIN_NUM = 1n, MIN_DEN = 100n; // below 1% done nothing is projected

function floorDiv(a, b) { // b > 0
  return a >= 0n ? a / b : -((-a + b - 1n) / b);
}

function ceilDiv(a, b) {
  return -floorDiv(-a, b);
}

function ceilSqrt(n) {
  if (n < 2n) return n;
  let x = BigInt(Math.ceil(Math.sqrt(Number(n)))) + 2n; // above the root: Newton comes down to its floor
  for (let y = (x + n / x) >> 1n; y < x; y = (x + n / x) >> 1n) x = y;
  return x * x === n ? x : x + 1n;
}

// {so_far_cents, projected_cents, low_cents, high_cents, share_ppm}, or null when nothing is projected.
export function project(soFar, done, whole) {
  if (!isInt(soFar) || !isInt(done) || !isInt(whole) || whole <= 0) return null;
  const w = BigInt(whole), s = BigInt(soFar), d = BigInt(Math.min(done, whole));
  if (d * MIN_DEN < MIN_NUM * w) return null;
  const spread = ceilDiv(ceilSqrt(K_NUM * K_NUM * d * (w - d)), K_DEN);
  const fast = d + spread < w ? d + spread : w, slow = d - spread;
  if (slow <= 0n) return null;
  const num = s * w;
  const magnitude = ((num < 0n ? -num : num) * 2n + d) / (2n * d);
  return {
    so_far_cents: soFar,
    projected_cents: Number(num < 0n ? -magnitude : magnitude),
    low_cents: Number(floorDiv(num, s >= 0n ? fast : slow)),
    high_cents: Number(ceilDiv(num, s >= 0n ? slow : fast)),
    share_ppm: Number(d * 1000000n / w),
  };
}

// "projected $X (band $L–$H)" under net sales, with the exact cents as data attributes; hidden for none.
export function showProjection(node, projection) {
  if (!projection) {
    node.hidden = true;
    delete node.dataset.projectedCents;
    return;
  }
  node.hidden = false;
  Object.assign(node.dataset, {
    projectedCents: String(projection.projected_cents), lowCents: String(projection.low_cents),
    highCents: String(projection.high_cents), sharePpm: String(projection.share_ppm),
  });
  node.textContent = "projected " + formatDollars(projection.projected_cents) + " (band "
    + formatDollars(projection.low_cents) + "–" + formatDollars(projection.high_cents) + ")";
  node.title = "end of day at the compare day's pace: " + (projection.share_ppm / 10000).toFixed(1)
    + "% of its net was done by now";
}
