// Explain this number: clicking a minute of the chart shows what made it, from /api/explain (README).
import { credentials } from "./credentials.js";
import { formatCents, groupThousands } from "./format.js";

export class ExplainPanel {
  // params: the page's query (its token, or a merchant link's merchant, exp and sig); merchant or null.
  constructor(node, params, merchant) {
    this.node = node;
    this.params = params;
    this.merchant = merchant;
    this.bound = new WeakSet();
    this.asked = 0; // answers to an older click are not shown
    node.querySelector(".explain-close").addEventListener("click", () => { node.hidden = true; });
  }

  // Called after each draw: Plotly gives the chart its .on once it has drawn it.
  bind(chart, state) {
    if (this.bound.has(chart) || typeof chart.on !== "function") return;
    this.bound.add(chart);
    chart.on("plotly_click", (event) => {
      const x = event && event.points && event.points[0] && event.points[0].x;
      if (typeof x === "string" && state.day) this.open(state.day, x.slice(11, 16));
    });
  }

  async open(day, minute) {
    const q = credentials(this.params, this.merchant);
    q.set("day", day);
    q.set("minute", minute);
    const asked = ++this.asked;
    let body;
    try {
      const answer = await fetch("/api/explain?" + q.toString());
      body = answer.ok ? await answer.json() : null;
    } catch (err) {
      body = null;
    }
    if (asked !== this.asked) return;
    this.show(day, minute, body);
  }

  show(day, minute, body) {
    const set = (name, text) => { this.node.querySelector(`[data-explain=${name}]`).textContent = text; };
    this.node.hidden = false;
    this.node.dataset.minute = minute;
    set("minute", day + " " + minute + " UTC");
    if (!body) {
      set("status", "could not be explained (try again)");
      return;
    }
    this.node.dataset.orders = String(body.orders);
    set("orders", groupThousands(body.orders));
    set("net", formatCents(body.gross_cents - body.refunds_cents));
    set("duplicates", body.duplicates_dropped === null ? "not kept per merchant"
      : groupThousands(body.duplicates_dropped));
    set("late", body.late_corrections === null ? "not kept per merchant" : groupThousands(body.late_corrections));
    const dead = Object.entries(body.dead_letters_of_day || {}).map(([k, v]) => k + " " + groupThousands(v));
    set("dead", dead.length ? dead.join(", ") : "none");
    set("status", body.final ? "final" : "provisional: waiting for every partition's watermark to pass "
      + new Date(body.final_when_watermarks_reach).toISOString().slice(11, 19) + " UTC");
    this.node.dataset.final = String(body.final);
  }
}
