// Numbers for people: exact integer cents in, text out. Money never goes through floats here.

export const isInt = Number.isSafeInteger;
export const DASH = "–";

export function groupThousands(n) {
  return String(n).replace(/\B(?=(\d{3})+(?!\d))/g, ",");
}

export function formatCents(cents) {
  const abs = Math.abs(cents);
  const rem = abs % 100;
  // subtracting the remainder first keeps the division exact even near 2^53
  const dollars = (abs - rem) / 100;
  return (cents < 0 ? "-$" : "$") + groupThousands(dollars) + "." + String(rem).padStart(2, "0");
}

// Whole dollars for tight spaces (tables, bars): rounded half away from zero, still integer arithmetic.
export function formatDollars(cents) {
  const abs = Math.abs(cents);
  const dollars = (abs - (abs % 100)) / 100 + (abs % 100 >= 50 ? 1 : 0);
  return (cents < 0 ? "-$" : "$") + groupThousands(dollars);
}

// Plotly reads numbers and Date objects on a date axis as *local* time, so hand it naive UTC strings.
export function utcString(ms) {
  return new Date(ms).toISOString().slice(0, 19).replace("T", " ");
}

// An exact integer in a data attribute and readable text beside it; a missing figure shows a dash.
function showFigure(node, n, attribute, format) {
  if (isInt(n)) {
    node.dataset[attribute] = String(n);
    node.textContent = format(n);
  } else {
    delete node.dataset[attribute];
    node.textContent = DASH;
  }
}

export const showCount = (node, n) => showFigure(node, n, "value", groupThousands);
export const showCents = (node, cents) => showFigure(node, cents, "cents", formatCents);
