// Figures on one line, inside their card, whatever their length: a Black Friday has 8-digit counts and
// 9-digit money. The stylesheet gives each figure the size it should have; a figure wider than its box is
// scaled down until it fits. Widths are measured, not guessed from character counts, so any font fits.

const MIN_PX = 8; // below this a figure would be unreadable anyway; never reached at wall-screen widths
const fitted = new WeakMap(); // node -> what it was last fitted for

function textWidth(node) {
  const range = document.createRange();
  range.selectNodeContents(node);
  return range.getBoundingClientRect().width;
}

// Fits `node` (white-space: nowrap in the stylesheet) to its own width. Cheap when nothing changed that
// matters: formatted figures with as many characters are as wide (tabular digits), so the count-up
// animation measures once per added digit, not once a frame.
export function fit(node) {
  if (!node) return;
  const box = node.clientWidth;
  if (box === 0) return; // not laid out (hidden): fitted when it shows
  const key = node.textContent.length + ":" + box;
  if (fitted.get(node) === key) return;
  fitted.set(node, key);
  node.style.fontSize = "";
  let size = parseFloat(getComputedStyle(node).fontSize);
  for (let i = 0; i < 4 && node.scrollWidth > box; i++) {
    const wide = Math.max(textWidth(node), node.scrollWidth);
    size = Math.max(MIN_PX, Math.floor((size * box * 0.98) / wide * 10) / 10);
    node.style.fontSize = size + "px";
    if (size === MIN_PX) break;
  }
}

// Refits every node whenever its box changes size (a window resize, a phone turned on its side).
export function fitOnResize(nodes) {
  const live = nodes.filter(Boolean);
  if (typeof ResizeObserver === "undefined") {
    window.addEventListener("resize", () => live.forEach(fit));
    return;
  }
  const observer = new ResizeObserver((entries) => entries.forEach((entry) => fit(entry.target)));
  live.forEach((node) => observer.observe(node));
}
