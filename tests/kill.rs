//! A run killed (SIGKILL) at any point leaves the previous output directory intact, or the
//! new one complete — never a partial one under the output's name — and the next run removes
//! what the killed one left beside it.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn command(out: &Path) -> std::process::Command {
    let mut c = std::process::Command::new(env!("CARGO_BIN_EXE_balgul"));
    c.current_dir(root())
        .args([
            "run",
            "--data",
            "fixtures/sample",
            "--rules",
            "rules/default.toml",
            "--force",
            "--out",
        ])
        .arg(out)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null());
    c
}

/// Every file under `dir` (relative path → bytes), the manifest without its timings and
/// memory peaks.
fn snapshot(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    let mut out = BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
                continue;
            }
            let rel = p.strip_prefix(dir).unwrap().display().to_string();
            let mut bytes = std::fs::read(&p).unwrap();
            if rel == "manifest.json" {
                let mut m: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
                m["wall_seconds"] = serde_json::Value::Null;
                m["peak_rss_bytes"] = serde_json::Value::Null;
                bytes = serde_json::to_vec(&m).unwrap();
            }
            out.insert(rel, bytes);
        }
    }
    out
}

fn visible_entries(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().to_string())
        .filter(|n| !n.starts_with('.'))
        .collect();
    v.sort();
    v
}

#[test]
fn a_run_killed_at_any_point_leaves_the_previous_output_intact() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("out");
    let t = Instant::now();
    assert!(command(&out).status().unwrap().success());
    let full = t.elapsed();
    let before = snapshot(&out);
    assert!(before.len() > 3, "the sample lists several municipalities");

    let steps = 12;
    for k in 0..steps {
        let mut child = command(&out).spawn().unwrap();
        std::thread::sleep(full.mul_f64(k as f64 / steps as f64 * 1.1));
        let _ = child.kill(); // SIGKILL
        let _ = child.wait();
        // Same inputs: the old output and a completed new one are the same bytes.
        assert_eq!(
            snapshot(&out),
            before,
            "after a kill at step {k} of {steps}"
        );
        assert_eq!(visible_entries(tmp.path()), ["out"], "at step {k}");
    }

    // The next run removes what the killed ones left beside the output.
    assert!(command(&out).status().unwrap().success());
    let hidden: Vec<String> = std::fs::read_dir(tmp.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().to_string())
        .filter(|n| n.starts_with('.'))
        .collect();
    assert_eq!(hidden, Vec::<String>::new());
    assert_eq!(snapshot(&out), before);
}

#[test]
fn a_first_run_killed_at_any_point_leaves_no_output_or_a_complete_one() {
    let tmp = tempfile::tempdir().unwrap();
    let reference = tmp.path().join("reference");
    let t = Instant::now();
    assert!(command(&reference).status().unwrap().success());
    let full = t.elapsed().max(Duration::from_millis(50));
    let expected = snapshot(&reference);
    for k in 0..8 {
        let out = tmp.path().join(format!("out{k}"));
        let mut child = command(&out).spawn().unwrap();
        std::thread::sleep(full.mul_f64(k as f64 / 8.0 * 1.1));
        let _ = child.kill();
        let _ = child.wait();
        if out.exists() {
            assert_eq!(snapshot(&out), expected, "a partial output at step {k}");
        }
    }
}
