// The alert banner: the alerts raised now, listed as plain text, hidden when none. They come on the live
// socket (docs/http.md): in every snapshot, and in an `alerts` message when the ones this page may see
// change; no polling (/api/alerts stays for other clients).

export class AlertBanner {
  constructor(node) {
    this.node = node;
    this.list = node.querySelector("ul");
  }

  // A snapshot's or an alerts message's `alerts`; anything else (a replay's snapshot) keeps what is shown.
  take(msg) {
    if (msg && (msg.type === "snapshot" || msg.type === "alerts") && Array.isArray(msg.alerts)) {
      this.show(msg.alerts);
    }
  }

  show(raised) {
    const items = raised.filter((a) => a && typeof a.kind === "string").map((a) => {
      const li = document.createElement("li");
      li.dataset.kind = a.kind;
      li.dataset.subject = String(a.subject);
      const kind = document.createElement("strong");
      kind.textContent = a.kind.replace("_", " "); // textContent: a hostile merchant id shows as text
      li.append(kind, " · " + String(a.subject) + " · " + String(a.detail));
      return li;
    });
    this.list.replaceChildren(...items);
    this.node.dataset.count = String(items.length);
    this.node.hidden = items.length === 0;
  }
}
