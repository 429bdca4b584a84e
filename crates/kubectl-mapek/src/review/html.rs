//! HTML building blocks of the review page: escaping, the page layout (inline
//! CSS, no external assets, no script) and small formatters of time.

use mapek_engine::model::Millis;

/// `text` escaped for HTML text and attribute values (`& < > " '`).
pub fn esc(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

const STYLE: &str = "body{font:14px/1.45 system-ui,sans-serif;margin:0;color:#222;background:#f6f7f9}\
header{background:#1d2733;color:#fff;padding:10px 24px}header a{color:#fff;text-decoration:none;font-weight:600}\
main{padding:16px 24px;max-width:1100px}table{border-collapse:collapse;width:100%;background:#fff}\
th,td{text-align:left;padding:6px 8px;border-bottom:1px solid #e3e5e8;vertical-align:top}\
th{background:#eef0f3;font-weight:600}.pending{color:#b35900;font-weight:600}\
.note{background:#fff4e5;border:1px solid #f0c27b;padding:8px 12px;margin:8px 0}\
.ok{background:#e8f6ec;border:1px solid #7bc48f;padding:8px 12px;margin:8px 0}\
.refused{background:#fdecea;border:1px solid #e08b85;padding:8px 12px;margin:8px 0}\
.nodata{background:#fff;border:1px dashed #bbb;padding:24px;color:#666}\
section{background:#fff;border:1px solid #e3e5e8;padding:12px 16px;margin:12px 0}\
h2{font-size:16px;margin:0 0 8px}.chart{width:100%;height:auto;font-size:11px}\
.chart .tick{fill:#666}.chart .label{fill:#444}.bar{background:#1f5fbf;height:10px;display:inline-block}\
.actions form{display:inline-block;margin-right:16px;vertical-align:top}\
button{font-size:14px;padding:6px 16px;cursor:pointer}.approve{background:#1e7e34;color:#fff;border:0}\
.reject{background:#b02a37;color:#fff;border:0}input[type=text]{width:320px;padding:5px}\
pre{white-space:pre-wrap;background:#f6f7f9;padding:8px}del{color:#b02a37}ins{color:#1e7e34;text-decoration:none}";

/// A whole page: `title` (escaped) and `body` (HTML, already escaped).
pub fn layout(title: &str, body: &str) -> String {
    format!(
        "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>{t} - kubectl mapek review</title><style>{STYLE}</style></head>\
         <body><header><a href=\"/\">mapek review</a></header><main>{body}</main></body></html>",
        t = esc(title)
    )
}

/// A span as the largest two units, such as `2h05m`, `3m10s` or `40s`.
pub fn span(ms: Millis) -> String {
    let s = ms.max(0) / 1000;
    match (s / 86_400, s / 3600, s / 60) {
        (d, _, _) if d > 0 => format!("{d}d{:02}h", (s / 3600) % 24),
        (_, h, _) if h > 0 => format!("{h}h{:02}m", (s / 60) % 60),
        (_, _, m) if m > 0 => format!("{m}m{:02}s", s % 60),
        _ => format!("{s}s"),
    }
}

/// When a deadline falls relative to `now`: `in 12m00s` or `12m00s ago`.
pub fn relative(at_ms: Millis, now_ms: Millis) -> String {
    if at_ms >= now_ms {
        format!("in {}", span(at_ms - now_ms))
    } else {
        format!("{} ago", span(now_ms - at_ms))
    }
}
