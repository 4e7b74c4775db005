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
        f.write_str(String::from_utf8_lossy(&buf).trim_end())
    }
}

impl std::error::Error for Diagnostic {}
