//! Structural checks of dashboard JSON, run by the test suite on every bundled
//! dashboard (and usable on any Grafana dashboard of the same conventions).

use std::collections::{BTreeMap, BTreeSet};

use promql_parser::parser::{self, Expr};
use serde_json::Value;

/// Panel types of Grafana's core that the dashboards may use (no Angular `graph` or
/// `singlestat`).
pub const PANEL_TYPES: &[&str] = &[
    "timeseries",
    "stat",
    "gauge",
    "bargauge",
    "table",
    "heatmap",
    "state-timeline",
    "text",
    "row",
];

/// The units the dashboards use, each an id from Grafana's unit list
/// (`packages/grafana-data/src/valueFormats/categories.ts`).
pub const UNITS: &[&str] = &[
    "none",
    "short",
    "percent",
    "percentunit",
    "bytes",
    "decbytes",
    "Bps",
    "bps",
    "pps",
    "cps",
    "ops",
    "reqps",
    "s",
    "ms",
    "dtdurations",
];

/// Variables Grafana defines itself.
const BUILTINS: &[&str] = &[
    "__rate_interval",
    "__interval",
    "__interval_ms",
    "__range",
    "__range_s",
    "__data",
    "__field",
    "__series",
    "__value",
    "__url_time_range",
    "__all",
    "__dashboard",
];

/// The stand-in for `$__rate_interval` when an expression is parsed for the lint.
const RATE_INTERVAL_MARK: &str = "7777s";

/// Every `$name`, `${name}`, `${name:format}` and `[[name]]` in a string.
pub fn var_refs(s: &str) -> Vec<String> {
    let b = s.as_bytes();
    let ident = |c: u8| c.is_ascii_alphanumeric() || c == b'_';
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'$' {
            let mut j = i + 1;
            let braced = b.get(j) == Some(&b'{');
            if braced {
                j += 1;
            }
            let start = j;
            while j < b.len() && ident(b[j]) {
                j += 1;
            }
            if j > start {
                out.push(s[start..j].to_string());
            }
            i = j.max(i + 1);
        } else if b[i..].starts_with(b"[[") {
            let start = i + 2;
            let mut j = start;
            while j < b.len() && ident(b[j]) {
                j += 1;
            }
            if j > start {
                out.push(s[start..j].to_string());
            }
            i = j.max(i + 1);
        } else {
            i += 1;
        }
    }
    out
}

/// `expr` with its variables replaced: `$__rate_interval` by `rate_interval`, any other
/// `$name`/`${name}` by `value(name)`.
pub fn expand(expr: &str, rate_interval: &str, value: &dyn Fn(&str) -> String) -> String {
    let mut out = String::with_capacity(expr.len());
    let b = expr.as_bytes();
    let ident = |c: u8| c.is_ascii_alphanumeric() || c == b'_';
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'$' {
            let braced = b.get(i + 1) == Some(&b'{');
            let start = i + 1 + usize::from(braced);
            let mut j = start;
            while j < b.len() && ident(b[j]) {
                j += 1;
            }
            if j > start {
                let name = &expr[start..j];
                if braced {
                    // Skip a `:format` and the closing brace.
                    while j < b.len() && b[j] != b'}' {
                        j += 1;
                    }
                    j += 1;
                }
                if name == "__rate_interval" {
                    out.push_str(rate_interval);
                } else {
                    out.push_str(&value(name));
                }
                i = j;
                continue;
            }
        }
        let ch = expr[i..].chars().next().unwrap_or('\u{fffd}');
        out.push(ch);
        i += ch.len_utf8().max(1);
    }
    out
}

/// Every panel, rows' nested panels included.
pub fn panels(d: &Value) -> Vec<&Value> {
    let mut out = Vec::new();
    for p in d["panels"].as_array().into_iter().flatten() {
        out.push(p);
        for c in p["panels"].as_array().into_iter().flatten() {
            out.push(c);
        }
    }
    out
}

/// `(panel title, expression)` of every panel query.
pub fn exprs(d: &Value) -> Vec<(String, String)> {
    panels(d)
        .into_iter()
        .flat_map(|p| {
            p["targets"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|t| t["expr"].as_str())
                .map(|e| (p["title"].as_str().unwrap_or("").to_string(), e.to_string()))
        })
        .collect()
}

/// The query variables (not the data source) a dashboard defines.
pub fn query_vars(d: &Value) -> Vec<String> {
    d["templating"]["list"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|v| v["type"] == "query")
        .filter_map(|v| v["name"].as_str().map(str::to_string))
        .collect()
}

/// Walk an expression: `f` sees every node.
pub fn walk(e: &Expr, f: &mut dyn FnMut(&Expr)) {
    f(e);
    match e {
        Expr::Aggregate(a) => {
            if let Some(p) = &a.param {
                walk(p, f);
            }
            walk(&a.expr, f);
        }
        Expr::Unary(u) => walk(&u.expr, f),
        Expr::Binary(b) => {
            walk(&b.lhs, f);
            walk(&b.rhs, f);
        }
        Expr::Paren(p) => walk(&p.expr, f),
        Expr::Subquery(s) => walk(&s.expr, f),
        Expr::Call(c) => {
            for a in &c.args.args {
                walk(a, f);
            }
        }
        Expr::MatrixSelector(m) => f(&Expr::VectorSelector(m.vs.clone())),
        _ => {}
    }
}

/// Metric names an expression reads.
pub fn metric_names(e: &Expr) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    walk(e, &mut |x| {
        if let Expr::VectorSelector(vs) = x {
            if let Some(n) = &vs.name {
                out.insert(n.clone());
            }
        }
    });
    out
}

fn mark(name: &str) -> String {
    format!("__var_{name}__")
}

/// Check one dashboard. `bundled` are the uids links may point to.
pub fn lint(d: &Value, bundled: &[String]) -> Vec<String> {
    let mut errs = Vec::new();
    let uid = d["uid"].as_str().unwrap_or("");
    let mut err = |m: String| errs.push(format!("{uid}: {m}"));
    if !uid.starts_with("meshscope-") {
        err("uid must start with meshscope-".into());
    }
    if !d["id"].is_null() {
        err("id must be null".into());
    }
    if d["schemaVersion"] != 39 {
        err("schemaVersion must be 39".into());
    }
    if d.get("__inputs").is_some() || d.to_string().contains("${DS_") {
        err("no __inputs or ${DS_...}: they break under file provisioning".into());
    }
    let vars: Vec<&Value> = d["templating"]["list"]
        .as_array()
        .into_iter()
        .flatten()
        .collect();
    if !vars.iter().any(|v| {
        v["name"] == "datasource" && v["type"] == "datasource" && v["query"] == "prometheus"
    }) {
        err("a `datasource` variable of type datasource (prometheus) is required".into());
    }
    let defined: BTreeSet<String> = vars
        .iter()
        .filter_map(|v| v["name"].as_str().map(str::to_string))
        .collect();
    for v in &vars {
        if v["type"] == "query" {
            let name = v["name"].as_str().unwrap_or("");
            if v["multi"] != true || v["includeAll"] != true {
                err(format!("variable {name}: must be multi-select with All"));
            }
            if !v["definition"]
                .as_str()
                .unwrap_or("")
                .starts_with("label_values(")
            {
                err(format!("variable {name}: must come from label_values()"));
            }
            if v["datasource"]["uid"] != "${datasource}" {
                err(format!("variable {name}: must use the datasource variable"));
            }
        }
    }

    // Panels: ids, types, grid, descriptions, data sources, units.
    let ps = panels(d);
    let mut ids = BTreeSet::new();
    let mut rects: Vec<(String, u64, u64, u64, u64)> = Vec::new();
    for p in &ps {
        let title = p["title"].as_str().unwrap_or("?").to_string();
        let kind = p["type"].as_str().unwrap_or("");
        match p["id"].as_u64() {
            Some(id) if ids.insert(id) => {}
            _ => err(format!(
                "panel {title:?}: missing or duplicate id {}",
                p["id"]
            )),
        }
        if !PANEL_TYPES.contains(&kind) {
            err(format!(
                "panel {title:?}: type {kind:?} is not an allowed core panel"
            ));
        }
        let g = &p["gridPos"];
        let (x, y, w, h) = (
            g["x"].as_u64().unwrap_or(0),
            g["y"].as_u64().unwrap_or(0),
            g["w"].as_u64().unwrap_or(0),
            g["h"].as_u64().unwrap_or(0),
        );
        if w == 0 || h == 0 || x + w > 24 {
            err(format!(
                "panel {title:?}: grid position {g} is outside the 24 columns"
            ));
        }
        for (t, x2, y2, w2, h2) in &rects {
            if x < x2 + w2 && *x2 < x + w && y < y2 + h2 && *y2 < y + h {
                err(format!("panel {title:?} overlaps panel {t:?}"));
            }
        }
        rects.push((title.clone(), x, y, w, h));
        if kind == "row" {
            continue;
        }
        if p["description"].as_str().unwrap_or("").trim().is_empty() {
            err(format!("panel {title:?}: no description"));
        }
        if kind == "text" {
            continue;
        }
        if p["datasource"]["uid"] != "${datasource}" {
            err(format!("panel {title:?}: must use the datasource variable"));
        }
        let targets = p["targets"].as_array().cloned().unwrap_or_default();
        if targets.is_empty() {
            err(format!("panel {title:?}: no queries"));
        }
        for t in &targets {
            if t["datasource"]["uid"] != "${datasource}" {
                err(format!(
                    "panel {title:?}: query {} must use the datasource variable",
                    t["refId"]
                ));
            }
        }
        let unit = p["fieldConfig"]["defaults"]["unit"].as_str().unwrap_or("");
        if !UNITS.contains(&unit) {
            err(format!(
                "panel {title:?}: unit {unit:?} is not one of Grafana's unit ids we use"
            ));
        }
        for l in p["fieldConfig"]["defaults"]["links"]
            .as_array()
            .into_iter()
            .flatten()
        {
            check_link(l["url"].as_str().unwrap_or(""), bundled, &title, &mut err);
        }
    }
    for l in d["links"].as_array().into_iter().flatten() {
        if l["type"] == "link" {
            check_link(
                l["url"].as_str().unwrap_or(""),
                bundled,
                "dashboard links",
                &mut err,
            );
            if l["keepTime"] != true || l["includeVars"] != true {
                err(format!(
                    "link {}: must keep the time range and variables",
                    l["title"]
                ));
            }
        }
    }

    // Variables: every reference defined, every definition used.
    let text = d.to_string();
    let mut used: BTreeMap<String, usize> = BTreeMap::new();
    for r in var_refs(&text) {
        *used.entry(r).or_default() += 1;
    }
    for r in used.keys() {
        if !defined.contains(r) && !BUILTINS.contains(&r.as_str()) {
            err(format!("variable ${r} is used but not defined"));
        }
    }
    for v in &defined {
        if !used.contains_key(v) {
            err(format!("variable {v} is defined but not used"));
        }
    }

    // Expressions: parse; rate/increase over $__rate_interval; every selector filtered
    // by every query variable.
    let qvars = query_vars(d);
    for (title, e) in exprs(d) {
        let x = expand(&e, RATE_INTERVAL_MARK, &|n| mark(n));
        let ast = match parser::parse(&x) {
            Ok(a) => a,
            Err(m) => {
                err(format!("panel {title:?}: {e:?} does not parse: {m}"));
                continue;
            }
        };
        walk(&ast, &mut |n| match n {
            Expr::Call(c)
                if ["rate", "increase", "irate", "delta", "idelta"].contains(&c.func.name) =>
            {
                let ok = c.args.args.first().is_some_and(|a| match &**a {
                    Expr::MatrixSelector(m) => m.range.as_secs() == 7777,
                    _ => false,
                });
                if !ok {
                    err(format!(
                        "panel {title:?}: {}() must range over $__rate_interval in {e:?}",
                        c.func.name
                    ));
                }
            }
            Expr::VectorSelector(vs) => {
                for v in &qvars {
                    let m = mark(v);
                    if !vs.matchers.matchers.iter().any(|x| x.value.contains(&m)) {
                        err(format!(
                            "panel {title:?}: selector {} does not filter by ${v} in {e:?}",
                            vs.name.as_deref().unwrap_or("?")
                        ));
                    }
                }
            }
            _ => {}
        });
    }
    errs
}

fn check_link(url: &str, bundled: &[String], title: &str, err: &mut dyn FnMut(String)) {
    let target = url
        .strip_prefix("/d/")
        .map(|r| r.split(['?', '/']).next().unwrap_or(""));
    match target {
        Some(uid) if bundled.iter().any(|b| b == uid) => {}
        _ => err(format!(
            "{title}: link {url:?} does not point to a bundled dashboard"
        )),
    }
}
