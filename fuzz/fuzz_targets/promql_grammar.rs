#![no_main]
//! PromQL from a grammar: the fuzzer's bytes choose an expression tree (`arbitrary`),
//! which is printed as query text and parsed and evaluated under the HTTP API's limits.
//! Unlike byte-level mutation, a few bytes make a tree thousands of levels deep (a
//! `Repeat` node nests its child up to 5,000 times), so every recursive construct is
//! tried far past `--query.max-depth`. Nothing may panic or overflow the stack.
use arbitrary::{Arbitrary, Unstructured};
use libfuzzer_sys::fuzz_target;
use meshscope_collector::promql::{
    instant_query_expr, parse_with, range_query_expr, EvalOptions, QueryLimits,
};
#[path = "common/promql_store.rs"]
mod promql_store;
use promql_store::store;

#[derive(Arbitrary, Debug)]
enum Node {
    Number(u8),
    Selector(Metric, Option<(bool, u8)>),
    Range(Metric, Dur),
    Unary(bool, Box<Node>),
    Binary(Op, Option<Matching>, Box<Node>, Box<Node>),
    Call(Func, Box<Node>),
    RangeCall(RangeFunc, Box<Node>, Dur, Dur),
    Agg(AggOp, Option<bool>, Box<Node>),
    TopK(u8, Box<Node>),
    LabelReplace(Box<Node>),
    Paren(Box<Node>),
    Offset(Box<Node>, Dur),
    /// The same wrapper `n` times around the child: deep trees from a few bytes.
    Repeat(Wrapper, u16, Box<Node>),
}

#[derive(Arbitrary, Debug, Clone, Copy)]
enum Wrapper {
    Sum,
    SumBy,
    Abs,
    Paren,
    Minus,
    PlusOne,
    OrUp,
    AndUp,
    Pow,
    RightNested,
    Subquery,
    LabelReplace,
    TopK,
    Clamp,
}

#[derive(Arbitrary, Debug, Clone, Copy)]
enum Metric {
    Up,
    Requests,
    Bucket,
    Missing,
}

#[derive(Arbitrary, Debug, Clone, Copy)]
enum Dur {
    S15,
    M1,
    M5,
    H1,
}

#[derive(Arbitrary, Debug, Clone, Copy)]
enum Op {
    Add,
    Sub,
    Mul,
    Div,
    Mod,
    Pow,
    Eq,
    Ne,
    Gt,
    Lt,
    And,
    Or,
    Unless,
    Atan2,
}

#[derive(Arbitrary, Debug, Clone, Copy)]
enum Matching {
    OnJob,
    IgnoringJob,
    GroupLeft,
    Bool,
}

#[derive(Arbitrary, Debug, Clone, Copy)]
enum Func {
    Abs,
    Ceil,
    Exp,
    Sort,
    Scalar,
    Vector,
    Timestamp,
    HistogramQuantile,
    Absent,
}

#[derive(Arbitrary, Debug, Clone, Copy)]
enum RangeFunc {
    Rate,
    Increase,
    MaxOverTime,
    Deriv,
    QuantileOverTime,
    PresentOverTime,
}

#[derive(Arbitrary, Debug, Clone, Copy)]
enum AggOp {
    Sum,
    Avg,
    Max,
    Count,
    Stddev,
    Group,
}

fn metric(m: Metric) -> &'static str {
    match m {
        Metric::Up => "up",
        Metric::Requests => "http_requests_total",
        Metric::Bucket => "latency_bucket",
        Metric::Missing => "nothing_here",
    }
}

fn dur(d: Dur) -> &'static str {
    match d {
        Dur::S15 => "15s",
        Dur::M1 => "1m",
        Dur::M5 => "5m",
        Dur::H1 => "1h",
    }
}

/// Print a tree as query text, at most `budget` bytes (the rest is cut, which the
/// parser then refuses: that is tried too).
fn print(n: &Node, out: &mut String, budget: usize) {
    if out.len() > budget {
        return;
    }
    match n {
        Node::Number(v) => out.push_str(&v.to_string()),
        Node::Selector(m, matcher) => {
            out.push_str(metric(*m));
            if let Some((neg, v)) = matcher {
                let op = if *neg { "!~" } else { "=~" };
                out.push_str(&format!("{{job{op}\"{}.*\"}}", (b'a' + v % 3) as char));
            }
        }
        Node::Range(m, d) => out.push_str(&format!("{}[{}]", metric(*m), dur(*d))),
        Node::Unary(neg, c) => {
            out.push_str(if *neg { "-" } else { "+" });
            print(c, out, budget);
        }
        Node::Binary(op, m, a, b) => {
            print(a, out, budget);
            let op = match op {
                Op::Add => " + ",
                Op::Sub => " - ",
                Op::Mul => " * ",
                Op::Div => " / ",
                Op::Mod => " % ",
                Op::Pow => " ^ ",
                Op::Eq => " == ",
                Op::Ne => " != ",
                Op::Gt => " > ",
                Op::Lt => " < ",
                Op::And => " and ",
                Op::Or => " or ",
                Op::Unless => " unless ",
                Op::Atan2 => " atan2 ",
            };
            out.push_str(op);
            match m {
                Some(Matching::OnJob) => out.push_str("on (job) "),
                Some(Matching::IgnoringJob) => out.push_str("ignoring (job) "),
                Some(Matching::GroupLeft) => out.push_str("on (job) group_left "),
                Some(Matching::Bool) => out.push_str("bool "),
                None => {}
            }
            print(b, out, budget);
        }
        Node::Call(f, c) => {
            let name = match f {
                Func::Abs => "abs",
                Func::Ceil => "ceil",
                Func::Exp => "exp",
                Func::Sort => "sort",
                Func::Scalar => "scalar",
                Func::Vector => "vector",
                Func::Timestamp => "timestamp",
                Func::HistogramQuantile => "histogram_quantile(0.9, ",
                Func::Absent => "absent",
            };
            out.push_str(name);
            if !name.ends_with(' ') {
                out.push('(');
            }
            print(c, out, budget);
            out.push(')');
        }
        Node::RangeCall(f, c, r, s) => {
            let name = match f {
                RangeFunc::Rate => "rate(",
                RangeFunc::Increase => "increase(",
                RangeFunc::MaxOverTime => "max_over_time(",
                RangeFunc::Deriv => "deriv(",
                RangeFunc::QuantileOverTime => "quantile_over_time(0.5, ",
                RangeFunc::PresentOverTime => "present_over_time(",
            };
            out.push_str(name);
            out.push('(');
            print(c, out, budget);
            out.push_str(&format!(")[{}:{}])", dur(*r), dur(*s)));
        }
        Node::Agg(op, by, c) => {
            out.push_str(match op {
                AggOp::Sum => "sum",
                AggOp::Avg => "avg",
                AggOp::Max => "max",
                AggOp::Count => "count",
                AggOp::Stddev => "stddev",
                AggOp::Group => "group",
            });
            match by {
                Some(true) => out.push_str(" by (job) "),
                Some(false) => out.push_str(" without (job) "),
                None => {}
            }
            out.push('(');
            print(c, out, budget);
            out.push(')');
        }
        Node::TopK(k, c) => {
            out.push_str(&format!("topk({k}, "));
            print(c, out, budget);
            out.push(')');
        }
        Node::LabelReplace(c) => {
            out.push_str("label_replace(");
            print(c, out, budget);
            out.push_str(", \"x\", \"$1\", \"job\", \"(.*)\")");
        }
        Node::Paren(c) => {
            out.push('(');
            print(c, out, budget);
            out.push(')');
        }
        Node::Offset(c, d) => {
            out.push('(');
            print(c, out, budget);
            out.push_str(&format!(")[{}:] offset {}", dur(*d), dur(*d)));
        }
        Node::Repeat(w, n, c) => {
            let n = (*n % 5000) as usize;
            let (open, close) = match w {
                Wrapper::Sum => ("sum(", ")"),
                Wrapper::SumBy => ("sum by (job) (", ")"),
                Wrapper::Abs => ("abs(", ")"),
                Wrapper::Paren => ("(", ")"),
                Wrapper::Minus => ("-", ""),
                Wrapper::PlusOne => ("", " + 1"),
                Wrapper::OrUp => ("", " or up"),
                Wrapper::AndUp => ("", " and up"),
                Wrapper::Pow => ("", " ^ 2"),
                Wrapper::RightNested => ("up + (", ")"),
                Wrapper::Subquery => ("max_over_time((", ")[5m:1m])"),
                Wrapper::LabelReplace => ("label_replace(", ", \"a\", \"$1\", \"job\", \"(.*)\")"),
                Wrapper::TopK => ("topk(1, ", ")"),
                Wrapper::Clamp => ("clamp_min(", ", 0)"),
            };
            for _ in 0..n {
                if out.len() > budget {
                    return;
                }
                out.push_str(open);
            }
            print(c, out, budget);
            for _ in 0..n {
                if out.len() > budget {
                    return;
                }
                out.push_str(close);
            }
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let mut u = Unstructured::new(data);
    let Ok(tree) = Node::arbitrary(&mut u) else {
        return;
    };
    let mut q = String::new();
    print(&tree, &mut q, 300_000);
    let opts = EvalOptions {
        max_samples: 200_000,
        timeout: std::time::Duration::from_millis(200),
        limits: QueryLimits::default(),
        ..EvalOptions::default()
    };
    // The fuzzer's main thread has 8 MiB of stack: the default limits must fit in it.
    if let Ok(e) = parse_with(&q, &opts.limits) {
        let _ = e.to_string();
        let _ = instant_query_expr(store(), &e, 500_000, &opts);
        let _ = range_query_expr(store(), &e, 0, 600_000, 60_000, &opts);
    }
});
