//! The comparison as one self-contained HTML page: inline CSS and SVG, no script, no network.
//! It holds what the console table holds — totals, the two funnels side by side, cohorts,
//! causes, per-municipality changes and score quantiles — with the funnel and the
//! municipalities' changes drawn as bars. Every count is of persons.

use std::collections::BTreeSet;
use std::fmt::Write;

use super::{Diff, MunicipalityDiff};
use crate::screen::Step;

/// How many changed municipalities the bar chart draws (the table lists them all).
const CHART_MUNICIPALITIES: usize = 30;

/// How many causes each table names (the rest are summed on one line).
const CAUSES_SHOWN: usize = 20;

const STYLE: &str = r#"
body { font-family: "Noto Sans KR", "Malgun Gothic", "Apple SD Gothic Neo", sans-serif;
       margin: 2rem auto; max-width: 60rem; color: #1a1a1a; line-height: 1.45; padding: 0 1rem; }
h1 { font-size: 1.5rem; margin-bottom: 0.2rem; }
h2 { font-size: 1.15rem; margin-top: 2rem; border-bottom: 1px solid #ccc; padding-bottom: 0.2rem; }
p.meta { color: #555; margin-top: 0; }
table { border-collapse: collapse; margin: 0.5rem 0; font-variant-numeric: tabular-nums; }
th, td { border: 1px solid #ccc; padding: 0.2rem 0.6rem; text-align: right; }
th { background: #f2f2f2; }
td.t, th.t { text-align: left; }
tr.flag td { background: #fff3cd; }
.zero { color: #0a6b2b; font-weight: bold; }
.legend span { display: inline-block; width: 0.9em; height: 0.9em; margin: 0 0.3em 0 1em;
               vertical-align: middle; }
svg text { font-size: 12px; fill: #1a1a1a; }
"#;

const BEFORE: &str = "#9aa5b1";
const AFTER: &str = "#1f6feb";
const ENTER: &str = "#2da44e";
const LEAVE: &str = "#cf222e";

fn esc(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => o.push_str("&amp;"),
            '<' => o.push_str("&lt;"),
            '>' => o.push_str("&gt;"),
            '"' => o.push_str("&quot;"),
            '\'' => o.push_str("&#39;"),
            c => o.push(c),
        }
    }
    o
}

fn opt(x: Option<u64>) -> String {
    x.map(|v| v.to_string()).unwrap_or_else(|| "–".into())
}

/// Bar length in pixels for `v` of `max` over `width`; a non-zero value is at least 1 px.
fn bar(v: u64, max: u64, width: f64) -> f64 {
    if max == 0 || v == 0 {
        0.0
    } else {
        (v as f64 / max as f64 * width).max(1.0)
    }
}

/// The funnel: per step, the baseline's bar above the candidate's.
fn funnel_svg(o: &mut String, before: &[Step], after: &[Step]) {
    let mut steps: Vec<(&str, &str)> = Vec::new();
    let mut seen = BTreeSet::new();
    for s in after.iter().chain(before) {
        if seen.insert(s.step.as_str()) {
            steps.push((s.step.as_str(), s.label.as_str()));
        }
    }
    let get = |f: &[Step], id: &str| f.iter().find(|s| s.step == id).map(|s| s.persons);
    let max = before
        .iter()
        .chain(after)
        .map(|s| s.persons)
        .max()
        .unwrap_or(0);
    let (label_w, bar_w, row_h) = (230.0, 420.0, 34.0);
    let h = steps.len() as f64 * row_h + 10.0;
    let _ = writeln!(
        o,
        r#"<svg role="img" aria-label="attrition funnel" width="{w}" height="{h}" viewBox="0 0 {w} {h}">"#,
        w = label_w + bar_w + 90.0
    );
    for (i, (id, label)) in steps.iter().enumerate() {
        let y = i as f64 * row_h + 4.0;
        let _ = writeln!(
            o,
            r#"<text x="0" y="{}">{}</text><text x="0" y="{}" style="fill:#666">{}</text>"#,
            y + 11.0,
            esc(label),
            y + 25.0,
            esc(id)
        );
        for (j, (f, colour)) in [(before, BEFORE), (after, AFTER)].into_iter().enumerate() {
            let yy = y + j as f64 * 14.0;
            let v = get(f, id);
            let wbar = bar(v.unwrap_or(0), max, bar_w);
            let _ = writeln!(
                o,
                r#"<rect x="{label_w}" y="{yy}" width="{wbar:.1}" height="12" fill="{colour}"/><text x="{}" y="{}">{}</text>"#,
                label_w + wbar + 4.0,
                yy + 10.0,
                opt(v)
            );
        }
    }
    let _ = writeln!(o, "</svg>");
}

/// Entrants to the right, leavers to the left, one row per changed municipality.
fn municipalities_svg(o: &mut String, changed: &[&MunicipalityDiff]) {
    let shown = &changed[..changed.len().min(CHART_MUNICIPALITIES)];
    let max = shown
        .iter()
        .map(|m| m.entrants.max(m.leavers))
        .max()
        .unwrap_or(0);
    let (label_w, half, row_h) = (70.0, 230.0, 18.0);
    let mid = label_w + half + 40.0;
    let w = mid + half + 50.0;
    let h = shown.len() as f64 * row_h + 6.0;
    let _ = writeln!(
        o,
        r#"<svg role="img" aria-label="changes per municipality" width="{w}" height="{h}" viewBox="0 0 {w} {h}">"#
    );
    let _ = writeln!(
        o,
        r##"<line x1="{mid}" y1="0" x2="{mid}" y2="{h}" stroke="#888"/>"##
    );
    for (i, m) in shown.iter().enumerate() {
        let y = i as f64 * row_h + 3.0;
        let (we, wl) = (bar(m.entrants, max, half), bar(m.leavers, max, half));
        let _ = writeln!(
            o,
            r#"<text x="0" y="{ty}">{code}{flag}</text><rect x="{lx:.1}" y="{y}" width="{wl:.1}" height="13" fill="{LEAVE}"/><text x="{ltx:.1}" y="{ty}" text-anchor="end">{l}</text><rect x="{mid}" y="{y}" width="{we:.1}" height="13" fill="{ENTER}"/><text x="{etx:.1}" y="{ty}">{e}</text>"#,
            ty = y + 11.0,
            code = esc(&m.sgg_code),
            flag = if m.flagged { " ⚑" } else { "" },
            lx = mid - wl,
            ltx = mid - wl - 4.0,
            l = if m.leavers > 0 {
                format!("−{}", m.leavers)
            } else {
                String::new()
            },
            etx = mid + we + 4.0,
            e = if m.entrants > 0 {
                format!("+{}", m.entrants)
            } else {
                String::new()
            },
        );
    }
    let _ = writeln!(o, "</svg>");
}

/// The whole page.
pub fn render(d: &Diff) -> String {
    let mut o = String::new();
    let t = &d.totals;
    let title = format!("balgul diff: {} → {}", d.baseline, d.candidate);
    let _ = writeln!(
        o,
        "<!DOCTYPE html>\n<html lang=\"ko\">\n<head>\n<meta charset=\"utf-8\">\n<title>{}</title>\n<style>{STYLE}</style>\n</head>\n<body>",
        esc(&title)
    );
    let _ = writeln!(o, "<h1>{}</h1>", esc(&title));
    let _ = writeln!(
        o,
        "<p class=\"meta\">기준일 (as of) {} · every count is of persons · baseline = 현행, candidate = 변경안</p>",
        esc(&d.as_of)
    );
    if d.is_zero() {
        let _ = writeln!(
            o,
            "<p class=\"zero\">No change: the two rule sets list exactly the same persons at the same ranks.</p>"
        );
    }

    let _ = writeln!(o, "<h2>Totals (persons)</h2>\n<table>");
    let _ = writeln!(
        o,
        "<tr><th class=\"t\"></th><th>baseline</th><th>candidate</th></tr>"
    );
    let _ = writeln!(
        o,
        "<tr><td class=\"t\">candidates before the cap</td><td>{}</td><td>{}</td></tr>",
        t.candidates_before_cap_before, t.candidates_before_cap_after
    );
    let _ = writeln!(
        o,
        "<tr><td class=\"t\">listed</td><td>{}</td><td>{}</td></tr></table>",
        t.listed_before, t.listed_after
    );
    let _ = writeln!(
        o,
        "<table><tr><th>entrants</th><th>leavers</th><th>unchanged</th><th>of whom moved rank</th></tr><tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr></table>",
        t.entrants, t.leavers, t.unchanged, t.rank_moves
    );

    let _ = writeln!(
        o,
        "<h2>Attrition funnel (persons remaining after each step)</h2>\n<p class=\"legend\"><span style=\"background:{BEFORE}\"></span>baseline<span style=\"background:{AFTER}\"></span>candidate</p>"
    );
    funnel_svg(&mut o, &d.funnel_before, &d.funnel_after);

    let _ = writeln!(
        o,
        "<h2>Cohorts (persons)</h2>\n<table><tr><th class=\"t\">cohort</th><th class=\"t\">label</th><th>eligible before</th><th>eligible after</th><th>listed before</th><th>listed after</th></tr>"
    );
    for c in &d.cohorts {
        let _ = writeln!(
            o,
            "<tr><td class=\"t\">{}</td><td class=\"t\">{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            esc(&c.id),
            esc(&c.label),
            opt(c.persons_eligible_before),
            opt(c.persons_eligible_after),
            opt(c.persons_listed_before),
            opt(c.persons_listed_after)
        );
    }
    let _ = writeln!(o, "</table>");

    for (title, causes) in [
        ("Entrants by cause (persons)", &d.causes_entrants),
        ("Leavers by cause (persons)", &d.causes_leavers),
    ] {
        let _ = writeln!(o, "<h2>{title}</h2>");
        if causes.is_empty() {
            let _ = writeln!(o, "<p>none</p>");
            continue;
        }
        let _ = writeln!(
            o,
            "<table><tr><th>persons</th><th class=\"t\">cause</th></tr>"
        );
        let (rows, rest) = super::top_causes(causes, CAUSES_SHOWN);
        for (c, n) in rows {
            let _ = writeln!(o, "<tr><td>{n}</td><td class=\"t\">{}</td></tr>", esc(c));
        }
        if let Some((persons, kinds)) = rest {
            let _ = writeln!(
                o,
                "<tr><td>{persons}</td><td class=\"t\">{kinds} other causes (see --people)</td></tr>"
            );
        }
        let _ = writeln!(o, "</table>");
    }

    let changed: Vec<&MunicipalityDiff> = d
        .municipalities
        .iter()
        .filter(|m| m.entrants + m.leavers > 0)
        .collect();
    let flagged = changed.iter().filter(|m| m.flagged).count();
    let _ = writeln!(
        o,
        "<h2>Municipalities with a change: {} of {} ({} over the threshold, ⚑)</h2>",
        changed.len(),
        d.municipalities.len(),
        flagged
    );
    if !changed.is_empty() {
        let _ = writeln!(
            o,
            "<p class=\"legend\"><span style=\"background:{LEAVE}\"></span>leavers (persons)<span style=\"background:{ENTER}\"></span>entrants (persons){}</p>",
            if changed.len() > CHART_MUNICIPALITIES {
                format!(" — the {CHART_MUNICIPALITIES} largest changes; the table lists all")
            } else {
                String::new()
            }
        );
        municipalities_svg(&mut o, &changed);
        let _ = writeln!(
            o,
            "<table><tr><th class=\"t\">sgg_code</th><th>listed before</th><th>listed after</th><th>entrants</th><th>leavers</th><th>on both lists</th></tr>"
        );
        for m in &changed {
            let _ = writeln!(
                o,
                "<tr{}><td class=\"t\">{}{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                if m.flagged { " class=\"flag\"" } else { "" },
                esc(&m.sgg_code),
                if m.flagged { " ⚑" } else { "" },
                m.listed_before,
                m.listed_after,
                m.entrants,
                m.leavers,
                m.overlap
            );
        }
        let _ = writeln!(o, "</table>");
    }

    let _ = writeln!(
        o,
        "<h2>Scores of the listed persons (quantiles)</h2>\n<table><tr><th class=\"t\"></th><th>10 %</th><th>25 %</th><th>50 %</th><th>75 %</th><th>90 %</th></tr>"
    );
    for (name, q) in [
        ("baseline", &d.score_quantiles_before),
        ("candidate", &d.score_quantiles_after),
    ] {
        let _ = write!(o, "<tr><td class=\"t\">{name}</td>");
        if q.is_empty() {
            let _ = write!(o, "<td colspan=\"5\">no one listed</td>");
        }
        for v in q {
            let _ = write!(o, "<td>{v}</td>");
        }
        let _ = writeln!(o, "</tr>");
    }
    let _ = writeln!(o, "</table>");
    let _ = writeln!(
        o,
        "<p class=\"meta\">Made by balgul {}. The person-level list is written by <code>balgul diff --people FILE.csv</code>.</p>\n</body>\n</html>",
        env!("CARGO_PKG_VERSION")
    );
    o
}

#[cfg(test)]
mod tests {
    use super::esc;

    #[test]
    fn text_from_rule_files_cannot_open_a_tag() {
        assert_eq!(
            esc("<script>\"x\" & 'y'</script>"),
            "&lt;script&gt;&quot;x&quot; &amp; &#39;y&#39;&lt;/script&gt;"
        );
    }
}
