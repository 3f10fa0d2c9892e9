//! A small builder for Grafana dashboard JSON (schema 39, Grafana 10.4 and later): the
//! panels, variables and links the bundled dashboards use, laid out on Grafana's 24-column
//! grid.

use serde_json::{json, Value};

/// The data-source reference every panel and variable uses: the `datasource` variable,
/// so that the dashboards work under file provisioning and after import alike.
pub fn ds() -> Value {
    json!({"type": "prometheus", "uid": "${datasource}"})
}

/// One query of a panel.
#[derive(Clone, Debug)]
pub struct Target {
    pub expr: String,
    pub legend: String,
    /// A table or bar gauge reads the latest value only.
    pub instant: bool,
    pub format: &'static str,
}

pub fn q(expr: impl Into<String>, legend: &str) -> Target {
    Target {
        expr: expr.into(),
        legend: legend.to_string(),
        instant: false,
        format: "time_series",
    }
}

impl Target {
    pub fn instant(mut self) -> Target {
        self.instant = true;
        self
    }

    pub fn table(mut self) -> Target {
        self.instant = true;
        self.format = "table";
        self
    }

    pub fn heatmap(mut self) -> Target {
        self.format = "heatmap";
        self
    }
}

/// Threshold steps: the base colour, then `(value, colour)` in increasing order.
pub fn steps(base: &str, rest: &[(f64, &str)]) -> Value {
    let mut s = vec![json!({"color": base, "value": null})];
    s.extend(rest.iter().map(|(v, c)| json!({"color": c, "value": v})));
    json!({"mode": "absolute", "steps": s})
}

/// A panel under construction.
#[derive(Clone, Debug)]
pub struct Panel {
    pub kind: &'static str,
    pub title: String,
    pub description: String,
    pub unit: &'static str,
    pub targets: Vec<Target>,
    pub w: u32,
    pub h: u32,
    pub thresholds: Value,
    pub min: Option<f64>,
    pub max: Option<f64>,
    pub mappings: Value,
    pub links: Vec<Value>,
    pub options: Value,
    pub content: String,
    pub stack: bool,
}

fn panel(kind: &'static str, title: &str, description: &str, unit: &'static str) -> Panel {
    Panel {
        kind,
        title: title.to_string(),
        description: description.to_string(),
        unit,
        targets: Vec::new(),
        w: 12,
        h: 8,
        thresholds: steps("green", &[]),
        min: None,
        max: None,
        mappings: json!([]),
        links: Vec::new(),
        options: json!({}),
        content: String::new(),
        stack: false,
    }
}

pub fn timeseries(title: &str, description: &str, unit: &'static str) -> Panel {
    panel("timeseries", title, description, unit)
}

pub fn stat(title: &str, description: &str, unit: &'static str) -> Panel {
    Panel {
        w: 4,
        h: 4,
        ..panel("stat", title, description, unit)
    }
}

pub fn gauge(title: &str, description: &str, unit: &'static str) -> Panel {
    Panel {
        w: 6,
        h: 6,
        ..panel("gauge", title, description, unit)
    }
}

pub fn bargauge(title: &str, description: &str, unit: &'static str) -> Panel {
    panel("bargauge", title, description, unit)
}

pub fn table(title: &str, description: &str, unit: &'static str) -> Panel {
    panel("table", title, description, unit)
}

pub fn heatmap(title: &str, description: &str, unit: &'static str) -> Panel {
    panel("heatmap", title, description, unit)
}

pub fn state_timeline(title: &str, description: &str) -> Panel {
    Panel {
        w: 24,
        ..panel("state-timeline", title, description, "none")
    }
}

pub fn text(title: &str, description: &str, markdown: &str) -> Panel {
    Panel {
        w: 24,
        h: 3,
        content: markdown.to_string(),
        ..panel("text", title, description, "none")
    }
}

impl Panel {
    pub fn q(mut self, t: Target) -> Panel {
        self.targets.push(t);
        self
    }

    pub fn size(mut self, w: u32, h: u32) -> Panel {
        self.w = w;
        self.h = h;
        self
    }

    pub fn thresholds(mut self, t: Value) -> Panel {
        self.thresholds = t;
        self
    }

    pub fn range(mut self, min: f64, max: f64) -> Panel {
        self.min = Some(min);
        self.max = Some(max);
        self
    }

    pub fn min(mut self, min: f64) -> Panel {
        self.min = Some(min);
        self
    }

    /// Value mappings: `(value, text, colour)`.
    pub fn map_values(mut self, m: &[(&str, &str, &str)]) -> Panel {
        let mut opts = serde_json::Map::new();
        for (i, (v, text, color)) in m.iter().enumerate() {
            opts.insert(
                v.to_string(),
                json!({"text": text, "color": color, "index": i}),
            );
        }
        self.mappings = json!([{"type": "value", "options": opts}]);
        self
    }

    /// A data link (shown on click), e.g. to another dashboard by uid.
    pub fn link(mut self, title: &str, url: &str) -> Panel {
        self.links
            .push(json!({"title": title, "url": url, "targetBlank": false}));
        self
    }

    pub fn stacked(mut self) -> Panel {
        self.stack = true;
        self
    }

    fn json(&self, id: u32, x: u32, y: u32) -> Value {
        let targets: Vec<Value> = self
            .targets
            .iter()
            .enumerate()
            .map(|(i, t)| {
                json!({
                    "refId": ((b'A' + i as u8) as char).to_string(),
                    "datasource": ds(),
                    "editorMode": "code",
                    "expr": t.expr,
                    "legendFormat": t.legend,
                    "range": !t.instant,
                    "instant": t.instant,
                    "format": t.format,
                })
            })
            .collect();
        let mut defaults = json!({
            "unit": self.unit,
            "thresholds": self.thresholds,
            "mappings": self.mappings,
            "color": {"mode": if self.kind == "timeseries" { "palette-classic" } else { "thresholds" }},
            "links": self.links,
        });
        if let Some(m) = self.min {
            defaults["min"] = json!(m);
        }
        if let Some(m) = self.max {
            defaults["max"] = json!(m);
        }
        let reduce = json!({"calcs": ["lastNotNull"], "fields": "", "values": false});
        let options = match self.kind {
            "timeseries" => {
                defaults["custom"] = json!({
                    "drawStyle": "line",
                    "lineWidth": 1,
                    "fillOpacity": if self.stack { 30 } else { 10 },
                    "showPoints": "never",
                    // Gaps are gaps: a missing scrape is not drawn over.
                    "spanNulls": false,
                    "stacking": {"mode": if self.stack { "normal" } else { "none" }, "group": "A"},
                });
                json!({
                    "legend": {"displayMode": "table", "placement": "bottom", "showLegend": true,
                               "calcs": ["lastNotNull", "max"]},
                    "tooltip": {"mode": "multi", "sort": "desc"},
                })
            }
            "stat" => json!({
                "reduceOptions": reduce, "colorMode": "background", "graphMode": "area",
                "justifyMode": "auto", "orientation": "auto", "textMode": "auto",
            }),
            "gauge" => json!({
                "reduceOptions": reduce, "showThresholdLabels": false, "showThresholdMarkers": true,
                "orientation": "auto",
            }),
            "bargauge" => json!({
                "reduceOptions": reduce, "displayMode": "gradient", "orientation": "horizontal",
                "showUnfilled": true, "valueMode": "color",
            }),
            "table" => {
                defaults["custom"] = json!({"align": "auto", "cellOptions": {"type": "auto"}});
                json!({"showHeader": true, "cellHeight": "sm", "footer": {"show": false}})
            }
            "state-timeline" => {
                defaults["custom"] = json!({"fillOpacity": 80, "lineWidth": 0});
                json!({
                    "mergeValues": true, "showValue": "auto", "alignValue": "left",
                    "rowHeight": 0.9, "legend": {"displayMode": "list", "placement": "bottom", "showLegend": true},
                    "tooltip": {"mode": "single", "sort": "none"},
                })
            }
            "heatmap" => json!({
                "calculate": false, "cellGap": 1, "yAxis": {"unit": self.unit, "axisPlacement": "left"},
                "color": {"mode": "scheme", "scheme": "Oranges", "exponent": 0.5, "steps": 64, "fill": "dark-orange"},
                "legend": {"show": true}, "tooltip": {"mode": "single", "yHistogram": false},
                "rowsFrame": {"layout": "auto"}, "cellValues": {"unit": "short"},
            }),
            "text" => json!({"mode": "markdown", "content": self.content}),
            _ => json!({}),
        };
        let mut p = json!({
            "id": id,
            "type": self.kind,
            "title": self.title,
            "description": self.description,
            "gridPos": {"h": self.h, "w": self.w, "x": x, "y": y},
        });
        if self.kind != "text" {
            p["datasource"] = ds();
            p["targets"] = json!(targets);
            p["fieldConfig"] = json!({"defaults": defaults, "overrides": []});
        }
        if self.kind == "table" && self.targets.len() > 1 {
            // Several instant queries side by side, one row per series.
            p["transformations"] = json!([{"id": "merge", "options": {}}]);
        }
        p["options"] = options;
        p
    }
}

/// A template variable.
#[derive(Clone, Debug)]
pub struct Var {
    pub name: &'static str,
    pub label: &'static str,
    pub query: String,
}

/// A `label_values` variable: multi-select, with All matching anything (`.*`, so that
/// series without the label, e.g. from a real exporter without `node`, still match).
pub fn var(name: &'static str, label: &'static str, query: impl Into<String>) -> Var {
    Var {
        name,
        label,
        query: query.into(),
    }
}

impl Var {
    fn json(&self) -> Value {
        json!({
            "name": self.name,
            "label": self.label,
            "type": "query",
            "datasource": ds(),
            "query": {"query": self.query, "refId": "PrometheusVariableQueryEditor-VariableQuery"},
            "definition": self.query,
            "refresh": 2,
            "includeAll": true,
            "multi": true,
            "allValue": ".*",
            "current": {"selected": true, "text": ["All"], "value": ["$__all"]},
            "options": [],
            "regex": "",
            "sort": 1,
            "hide": 0,
        })
    }
}

/// A link in the dashboard's header to another bundled dashboard, keeping the time range
/// and the variables.
pub fn dash_link(title: &str, uid: &str) -> Value {
    json!({
        "title": title,
        "type": "link",
        "url": format!("/d/{uid}"),
        "icon": "dashboard",
        "keepTime": true,
        "includeVars": true,
        "targetBlank": false,
        "asDropdown": false,
        "tags": [],
        "tooltip": "",
    })
}

/// A section of a dashboard: a row header and its panels.
pub struct Section {
    pub title: &'static str,
    pub panels: Vec<Panel>,
}

pub fn section(title: &'static str, panels: Vec<Panel>) -> Section {
    Section { title, panels }
}

/// A whole dashboard.
pub struct Dashboard {
    pub uid: &'static str,
    pub title: &'static str,
    pub description: &'static str,
    pub tags: Vec<&'static str>,
    /// The catalogue sections (exporters) whose metrics it may read, besides the mesh
    /// model, `up` and the collector's own.
    pub sources: Vec<&'static str>,
    pub vars: Vec<Var>,
    pub links: Vec<Value>,
    pub sections: Vec<Section>,
}

impl Dashboard {
    /// The file name it is written to.
    pub fn file_name(&self) -> String {
        format!("{}.json", self.uid)
    }

    /// Grafana's JSON: panels laid out left to right, a new line when a panel does not
    /// fit, each section under a row header.
    pub fn json(&self) -> Value {
        let mut panels = Vec::new();
        let mut id = 1;
        let mut y = 0;
        for s in &self.sections {
            panels.push(json!({
                "id": id, "type": "row", "title": s.title, "collapsed": false,
                "gridPos": {"h": 1, "w": 24, "x": 0, "y": y}, "panels": [],
            }));
            id += 1;
            y += 1;
            let (mut x, mut line_h) = (0, 0);
            for p in &s.panels {
                if x + p.w > 24 {
                    y += line_h;
                    x = 0;
                    line_h = 0;
                }
                panels.push(p.json(id, x, y));
                id += 1;
                x += p.w;
                line_h = line_h.max(p.h);
            }
            y += line_h;
        }
        let mut list = vec![json!({
            "name": "datasource",
            "label": "Data source",
            "type": "datasource",
            "query": "prometheus",
            "current": {},
            "hide": 0,
            "includeAll": false,
            "multi": false,
            "options": [],
            "refresh": 1,
            "regex": "",
        })];
        list.extend(self.vars.iter().map(Var::json));
        json!({
            "id": null,
            "uid": self.uid,
            "title": self.title,
            "description": self.description,
            "tags": self.tags,
            "timezone": "browser",
            "editable": true,
            "graphTooltip": 1,
            "schemaVersion": 39,
            "version": 1,
            "refresh": "30s",
            "time": {"from": "now-1h", "to": "now"},
            "timepicker": {},
            "fiscalYearStartMonth": 0,
            "liveNow": false,
            "weekStart": "",
            "annotations": {"list": [{
                "builtIn": 1,
                "datasource": {"type": "grafana", "uid": "-- Grafana --"},
                "enable": true, "hide": true, "iconColor": "rgba(0, 211, 255, 1)",
                "name": "Annotations & Alerts", "type": "dashboard",
            }]},
            "templating": {"list": list},
            "links": self.links,
            "panels": panels,
        })
    }

    /// The file's text: pretty JSON and a final newline.
    pub fn render(&self) -> String {
        let mut s = serde_json::to_string_pretty(&self.json()).unwrap_or_default();
        s.push('\n');
        s
    }
}
