//! Located diagnostics: a message about a span of a file (a rule file, a mapping file),
//! rendered once with the file name, line and column and a caret under the offending text.
//! Rendered without colour, so it reads the same in a terminal, a log and a test.

use std::fmt;
use std::ops::Range;
use std::path::{Path, PathBuf};

use ariadne::{Config, IndexType, Label, Report, ReportKind, Source};

/// A message about bytes `span` of `text`, the contents of `file`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    pub file: PathBuf,
    pub text: String,
    pub span: Range<usize>,
    pub message: String,
    /// The short note printed under the caret.
    pub label: String,
    pub help: Option<String>,
}

impl Diagnostic {
    pub fn new(file: &Path, text: &str, span: Range<usize>, message: impl Into<String>) -> Self {
        let end = span.end.min(text.len());
        let start = span.start.min(end);
        Diagnostic {
            file: file.to_path_buf(),
            text: text.to_string(),
            span: start..end,
            message: message.into(),
            label: String::new(),
            help: None,
        }
    }

    pub fn label(mut self, label: impl Into<String>) -> Self {
        self.label = label.into();
        self
    }

    pub fn help(mut self, help: impl Into<String>) -> Self {
        self.help = Some(help.into());
        self
    }

    /// 1-based line and column (in characters) of the span's start.
    pub fn line_col(&self) -> (usize, usize) {
        let before = &self.text[..self.span.start];
        let line = before.matches('\n').count() + 1;
        let col = before.rsplit('\n').next().unwrap_or("").chars().count() + 1;
        (line, col)
    }
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = self.file.display().to_string();
        let (line, col) = self.line_col();
        writeln!(f, "{name}:{line}:{col}: {}", self.message)?;
        let label = if self.label.is_empty() {
            self.message.clone()
        } else {
            self.label.clone()
        };
        let mut report = Report::build(ReportKind::Error, (name.as_str(), self.span.clone()))
            .with_config(
                Config::default()
                    .with_color(false)
                    .with_index_type(IndexType::Byte),
            )
            .with_message(&self.message)
            .with_label(Label::new((name.as_str(), self.span.clone())).with_message(label));
        if let Some(h) = &self.help {
            report = report.with_help(h);
        }
        let mut buf = Vec::new();
        report
            .finish()
            .write((name.as_str(), Source::from(self.text.as_str())), &mut buf)
            .map_err(|_| fmt::Error)?;
        // ariadne's first line repeats the message; ours above also says where.
        let text = String::from_utf8_lossy(&buf);
        let body = text.split_once('\n').map(|(_, rest)| rest).unwrap_or("");
        f.write_str(body.trim_end())
    }
}

impl std::error::Error for Diagnostic {}

/// The span, in the file, of a TOML string value's contents (inside its quotes; a multi-line
/// string's first newline is not part of its contents).
pub fn inner_span(text: &str, v: &toml::Spanned<String>) -> Range<usize> {
    let s = v.span();
    let raw = &text[s.clone()];
    let q = if raw.starts_with("\"\"\"") || raw.starts_with("'''") {
        3
    } else {
        1
    };
    if raw.len() < 2 * q {
        return s;
    }
    let mut start = s.start + q;
    if q == 3 && text[start..].starts_with('\n') {
        start += 1;
    } else if q == 3 && text[start..].starts_with("\r\n") {
        start += 2;
    }
    start..(s.end - q)
}

/// A span inside an expression, moved into the file: exact when the expression is written
/// without escapes, so that its bytes in the file are its bytes in the string.
pub fn shift(inner: &Range<usize>, start: usize, end: usize) -> Range<usize> {
    if inner.is_empty() {
        return inner.clone();
    }
    (inner.start + start).min(inner.end)..(inner.start + end).min(inner.end)
}
