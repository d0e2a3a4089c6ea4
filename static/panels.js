// Rankings and breakdowns as HTML. Names come from shoppers' data, so they are only ever set as text:
// a merchant called <img src=x onerror=alert(1)> shows exactly those characters and runs nothing.

import { DASH, formatDollars, groupThousands, isInt } from "./format.js";

function cell(text, className) {
  const td = document.createElement("td");
  td.textContent = text;
  if (className) td.className = className;
  return td;
}

function emptyRow(columns) {
  const tr = document.createElement("tr");
  tr.className = "empty";
  const td = cell(DASH);
  td.colSpan = columns;
  tr.append(td);
  return tr;
}

// Redrawing only when the rows change keeps 4 updates a second from churning the DOM.
function replaceIfChanged(container, rows, build) {
  const key = JSON.stringify(rows);
  if (container.dataset.rendered === key) return;
  container.dataset.rendered = key;
  container.replaceChildren(...build());
}

export function showMerchants(tbody, rows) {
  replaceIfChanged(tbody, rows, () => {
    if (!rows || rows.length === 0) return [emptyRow(3)];
    return rows.map((m) => {
      const tr = document.createElement("tr");
      tr.dataset.merchantId = m.merchant_id;
      tr.dataset.orders = String(m.orders);
      tr.dataset.cents = String(m.net_cents);
      const name = cell(m.name, "name");
      name.title = m.name;
      tr.append(name, cell(groupThousands(m.orders), "num"), cell(formatDollars(m.net_cents), "num"));
      return tr;
    });
  });
}

export function showProducts(tbody, rows) {
  replaceIfChanged(tbody, rows, () => {
    if (!rows || rows.length === 0) return [emptyRow(3)];
    return rows.map((p) => {
      const tr = document.createElement("tr");
      tr.dataset.sku = p.sku;
      tr.dataset.qty = String(p.qty);
      tr.dataset.cents = String(p.net_cents);
      const name = cell(p.title, "name");
      const sku = document.createElement("span");
      sku.className = "sku";
      sku.textContent = p.sku;
      name.append(" ", sku);
      name.title = p.title + " (" + p.sku + ")";
      tr.append(name, cell(groupThousands(p.qty), "num"), cell(formatDollars(p.net_cents), "num"));
      return tr;
    });
  });
}

export function showChannels(list, rows) {
  replaceIfChanged(list, rows, () => {
    if (!rows || rows.length === 0) {
      const li = document.createElement("li");
      li.className = "empty";
      li.textContent = DASH;
      return [li];
    }
    const total = rows.reduce((sum, c) => sum + Math.max(0, c.net_cents), 0);
    return rows.map((c) => {
      const li = document.createElement("li");
      li.dataset.channel = c.channel;
      li.dataset.orders = String(c.orders);
      li.dataset.cents = String(c.net_cents);
      const share = total > 0 ? Math.max(0, c.net_cents) / total : 0;
      const name = document.createElement("span");
      name.className = "name";
      name.textContent = c.channel;
      const bar = document.createElement("span");
      bar.className = "bar";
      const fill = document.createElement("span");
      fill.className = "fill";
      fill.style.width = (share * 100).toFixed(1) + "%";
      bar.append(fill);
      const pct = document.createElement("span");
      pct.className = "pct";
      pct.textContent = Math.round(share * 100) + "%";
      li.append(name, bar, pct);
      return li;
    });
  });
}

export function showDeadLetters(node, holder, counts) {
  if (!counts) {
    delete node.dataset.value;
    node.textContent = DASH;
    holder.title = "";
    return;
  }
  const entries = Object.entries(counts).filter(([, n]) => isInt(n)).sort((a, b) => b[1] - a[1]);
  const total = entries.reduce((sum, [, n]) => sum + n, 0);
  node.dataset.value = String(total);
  node.textContent = groupThousands(total);
  holder.dataset.alert = total > 0 ? "true" : "false";
  holder.title = entries.map(([reason, n]) => reason + ": " + groupThousands(n)).join("\n");
}
