//! The expression language of rule and mapping files: lexer and parser to an AST with byte
//! spans, so that every later error can put a caret under the offending text. No types and
//! no evaluation here.
//!
//! ```text
//! expr     = or
//! or       = and { "or" and }
//! and      = not { "and" not }
//! not      = "not" not | cmp
//! cmp      = sum [ ( "==" | "=" | "!=" | "<>" | "<" | "<=" | ">" | ">=" ) sum
//!                | "is" [ "not" ] "null"
//!                | [ "not" ] "in" ( "(" expr { "," expr } [ "," ] ")" | NAME { "." NAME } ) ]
//!                                                           (non-associative)
//! sum      = product { ( "+" | "-" ) product }
//! product  = unary { ( "*" | "/" ) unary }
//! unary    = "-" unary | primary
//! primary  = INT | FLOAT | STRING | "true" | "false" | "null"
//!          | NAME { "." NAME } [ "(" [ expr { "," expr } ] ")" ]
//!          | "(" expr ")"
//! STRING   = "'" … "'" | '"' … '"'        NAME = [A-Za-z_][A-Za-z0-9_]*
//! ```

use std::fmt;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Span {
    pub start: usize,
    pub end: usize,
}

impl Span {
    fn new(start: usize, end: usize) -> Span {
        Span { start, end }
    }
    fn to(self, other: Span) -> Span {
        Span::new(self.start, other.end)
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Expr {
    pub kind: ExprKind,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq)]
pub enum ExprKind {
    Int(i64),
    Float(f64),
    Str(String),
    Bool(bool),
    Null,
    /// A possibly dotted name: `age`, `R`, `params.min_age` → `["params", "min_age"]`.
    Ident(Vec<String>),
    Unary {
        op: UnaryOp,
        expr: Box<Expr>,
    },
    Binary {
        op: BinOp,
        lhs: Box<Expr>,
        rhs: Box<Expr>,
    },
    /// `x is null` (negated = false) / `x is not null` (negated = true).
    IsNull {
        expr: Box<Expr>,
        negated: bool,
    },
    /// `x in (a, b)` / `x not in (a, b)`.
    InList {
        expr: Box<Expr>,
        list: Vec<Expr>,
        negated: bool,
    },
    /// `name(arg, …)`; `name_span` covers the name only.
    Call {
        name: String,
        name_span: Span,
        args: Vec<Expr>,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UnaryOp {
    Not,
    Neg,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BinOp {
    Or,
    And,
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
    Add,
    Sub,
    Mul,
    Div,
}

impl BinOp {
    pub fn symbol(self) -> &'static str {
        match self {
            BinOp::Or => "or",
            BinOp::And => "and",
            BinOp::Eq => "==",
            BinOp::Ne => "!=",
            BinOp::Lt => "<",
            BinOp::Le => "<=",
            BinOp::Gt => ">",
            BinOp::Ge => ">=",
            BinOp::Add => "+",
            BinOp::Sub => "-",
            BinOp::Mul => "*",
            BinOp::Div => "/",
        }
    }
    fn precedence(self) -> u8 {
        match self {
            BinOp::Or => 1,
            BinOp::And => 2,
            BinOp::Eq | BinOp::Ne | BinOp::Lt | BinOp::Le | BinOp::Gt | BinOp::Ge => 4,
            BinOp::Add | BinOp::Sub => 5,
            BinOp::Mul | BinOp::Div => 6,
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct ParseError {
    pub span: Span,
    pub message: String,
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for ParseError {}

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Int(i64),
    Float(f64),
    Str(String),
    Name(String),
    Kw(&'static str),
    Op(&'static str),
    LParen,
    RParen,
    Comma,
    Dot,
    End,
}

impl Tok {
    fn describe(&self) -> String {
        match self {
            Tok::Int(v) => format!("`{v}`"),
            Tok::Float(v) => format!("`{v}`"),
            Tok::Str(s) => format!("'{s}'"),
            Tok::Name(n) => format!("`{n}`"),
            Tok::Kw(k) | Tok::Op(k) => format!("`{k}`"),
            Tok::LParen => "`(`".into(),
            Tok::RParen => "`)`".into(),
            Tok::Comma => "`,`".into(),
            Tok::Dot => "`.`".into(),
            Tok::End => "end of input".into(),
        }
    }
}

const KEYWORDS: [&str; 8] = ["and", "or", "not", "in", "is", "null", "true", "false"];
const MAX_DEPTH: usize = 200;

fn err<T>(span: Span, message: impl Into<String>) -> Result<T, ParseError> {
    Err(ParseError {
        span,
        message: message.into(),
    })
}

fn lex(src: &str) -> Result<Vec<(Tok, Span)>, ParseError> {
    let b = src.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        let start = i;
        if c.is_ascii_whitespace() {
            i += 1;
            continue;
        }
        if c.is_ascii_alphabetic() || c == b'_' {
            while i < b.len() && (b[i].is_ascii_alphanumeric() || b[i] == b'_') {
                i += 1;
            }
            let word = &src[start..i];
            let tok = match KEYWORDS.iter().find(|k| **k == word) {
                Some(k) => Tok::Kw(k),
                None => Tok::Name(word.to_string()),
            };
            out.push((tok, Span::new(start, i)));
            continue;
        }
        if c.is_ascii_digit() {
            while i < b.len() && b[i].is_ascii_digit() {
                i += 1;
            }
            let is_float = i + 1 < b.len() && b[i] == b'.' && b[i + 1].is_ascii_digit();
            if is_float {
                i += 1;
                while i < b.len() && b[i].is_ascii_digit() {
                    i += 1;
                }
                let v: f64 = src[start..i].parse().map_err(|_| ParseError {
                    span: Span::new(start, i),
                    message: format!("`{}` is not a number", &src[start..i]),
                })?;
                out.push((Tok::Float(v), Span::new(start, i)));
            } else {
                let v: i64 = src[start..i].parse().map_err(|_| ParseError {
                    span: Span::new(start, i),
                    message: format!("`{}` is too large for a whole number", &src[start..i]),
                })?;
                out.push((Tok::Int(v), Span::new(start, i)));
            }
            continue;
        }
        if c == b'\'' || c == b'"' {
            i += 1;
            while i < b.len() && b[i] != c {
                i += 1;
            }
            if i >= b.len() {
                return err(
                    Span::new(start, start + 1),
                    "unterminated string: add the closing quote",
                );
            }
            out.push((
                Tok::Str(src[start + 1..i].to_string()),
                Span::new(start, i + 1),
            ));
            i += 1;
            continue;
        }
        let two: &[u8] = if i + 1 < b.len() { &b[i..i + 2] } else { b"" };
        let (tok, len) = match two {
            b"==" => (Tok::Op("=="), 2),
            b"!=" => (Tok::Op("!="), 2),
            b"<>" => (Tok::Op("!="), 2),
            b"<=" => (Tok::Op("<="), 2),
            b">=" => (Tok::Op(">="), 2),
            b"&&" => {
                return err(
                    Span::new(i, i + 2),
                    "`&&` is not an operator here: use `and`",
                );
            }
            b"||" => {
                return err(
                    Span::new(i, i + 2),
                    "`||` is not an operator here: use `or`",
                );
            }
            _ => match c {
                b'=' => (Tok::Op("=="), 1),
                b'<' => (Tok::Op("<"), 1),
                b'>' => (Tok::Op(">"), 1),
                b'+' => (Tok::Op("+"), 1),
                b'-' => (Tok::Op("-"), 1),
                b'*' => (Tok::Op("*"), 1),
                b'/' => (Tok::Op("/"), 1),
                b'(' => (Tok::LParen, 1),
                b')' => (Tok::RParen, 1),
                b',' => (Tok::Comma, 1),
                b'.' => (Tok::Dot, 1),
                b'!' => return err(Span::new(i, i + 1), "unexpected character `!`: use `not`"),
                b'&' => return err(Span::new(i, i + 1), "unexpected character `&`: use `and`"),
                b'|' => return err(Span::new(i, i + 1), "unexpected character `|`: use `or`"),
                _ => {
                    let ch = src[i..].chars().next().unwrap_or('?');
                    let end = i + ch.len_utf8();
                    return err(Span::new(i, end), format!("unexpected character `{ch}`"));
                }
            },
        };
        out.push((tok, Span::new(i, i + len)));
        i += len;
    }
    out.push((Tok::End, Span::new(src.len(), src.len())));
    Ok(out)
}

struct Parser {
    toks: Vec<(Tok, Span)>,
    pos: usize,
    depth: usize,
}

impl Parser {
    fn peek(&self) -> &Tok {
        &self.toks[self.pos].0
    }
    fn span(&self) -> Span {
        self.toks[self.pos].1
    }
    fn bump(&mut self) -> (Tok, Span) {
        let t = self.toks[self.pos].clone();
        if self.pos + 1 < self.toks.len() {
            self.pos += 1;
        }
        t
    }
    fn is_kw(&self, k: &str) -> bool {
        matches!(self.peek(), Tok::Kw(x) if *x == k)
    }
    fn enter(&mut self) -> Result<(), ParseError> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return err(
                self.span(),
                format!("the expression nests deeper than {MAX_DEPTH} levels"),
            );
        }
        Ok(())
    }

    fn expected_expr(&self, after: &str) -> ParseError {
        ParseError {
            span: self.span(),
            message: format!(
                "expected an expression {after}, found {}",
                self.peek().describe()
            ),
        }
    }

    fn binary(&mut self, min_prec: u8, after: &str) -> Result<Expr, ParseError> {
        self.enter()?;
        let mut lhs = if min_prec <= 3 && self.is_kw("not") {
            let (_, s) = self.bump();
            let inner = self.binary(3, "after `not`")?;
            let span = s.to(inner.span);
            Expr {
                kind: ExprKind::Unary {
                    op: UnaryOp::Not,
                    expr: Box::new(inner),
                },
                span,
            }
        } else {
            self.unary(after)?
        };
        let mut compared = false;
        loop {
            // `is [not] null` and `[not] in (…)` sit at comparison level.
            if min_prec <= 4
                && (self.is_kw("is")
                    || self.is_kw("in")
                    || (self.is_kw("not") && self.next_is_in()))
            {
                if compared {
                    return err(
                        self.span(),
                        "comparisons cannot be chained: write `a < b and b < c`",
                    );
                }
                lhs = self.postfix(lhs)?;
                compared = true;
                continue;
            }
            let op = match self.peek() {
                Tok::Kw("or") => BinOp::Or,
                Tok::Kw("and") => BinOp::And,
                Tok::Op("==") => BinOp::Eq,
                Tok::Op("!=") => BinOp::Ne,
                Tok::Op("<") => BinOp::Lt,
                Tok::Op("<=") => BinOp::Le,
                Tok::Op(">") => BinOp::Gt,
                Tok::Op(">=") => BinOp::Ge,
                Tok::Op("+") => BinOp::Add,
                Tok::Op("-") => BinOp::Sub,
                Tok::Op("*") => BinOp::Mul,
                Tok::Op("/") => BinOp::Div,
                _ => break,
            };
            let prec = op.precedence();
            if prec < min_prec {
                break;
            }
            if prec == 4 {
                if compared {
                    return err(
                        self.span(),
                        "comparisons cannot be chained: write `a < b and b < c`",
                    );
                }
                compared = true;
            }
            self.bump();
            let after = format!("after `{}`", op.symbol());
            let rhs = self.binary(prec + 1, &after)?;
            let span = lhs.span.to(rhs.span);
            lhs = Expr {
                kind: ExprKind::Binary {
                    op,
                    lhs: Box::new(lhs),
                    rhs: Box::new(rhs),
                },
                span,
            };
            if prec < 4 {
                compared = false;
            }
        }
        self.depth -= 1;
        Ok(lhs)
    }

    fn next_is_in(&self) -> bool {
        matches!(self.toks.get(self.pos + 1), Some((Tok::Kw("in"), _)))
    }

    fn postfix(&mut self, lhs: Expr) -> Result<Expr, ParseError> {
        if self.is_kw("is") {
            self.bump();
            let negated = if self.is_kw("not") {
                self.bump();
                true
            } else {
                false
            };
            if !self.is_kw("null") {
                return err(
                    self.span(),
                    format!(
                        "expected `null` after `is`, found {}",
                        self.peek().describe()
                    ),
                );
            }
            let (_, s) = self.bump();
            let span = lhs.span.to(s);
            return Ok(Expr {
                kind: ExprKind::IsNull {
                    expr: Box::new(lhs),
                    negated,
                },
                span,
            });
        }
        let negated = if self.is_kw("not") {
            self.bump();
            true
        } else {
            false
        };
        self.bump(); // `in`
        if let Tok::Name(_) = self.peek() {
            // `x in params.list`: a name standing for a whole list.
            let item = self.primary("after `in`")?;
            let span = lhs.span.to(item.span);
            return Ok(Expr {
                kind: ExprKind::InList {
                    expr: Box::new(lhs),
                    list: vec![item],
                    negated,
                },
                span,
            });
        }
        if *self.peek() != Tok::LParen {
            return err(
                self.span(),
                format!(
                    "expected `(` or a list parameter after `in`, found {}",
                    self.peek().describe()
                ),
            );
        }
        let (_, open) = self.bump();
        let mut list = Vec::new();
        loop {
            if *self.peek() == Tok::RParen {
                if list.is_empty() {
                    return err(
                        self.span(),
                        "the list after `in` is empty: give at least one value",
                    );
                }
                break;
            }
            list.push(self.binary(1, "in the list after `in`")?);
            match self.peek() {
                Tok::Comma => {
                    self.bump();
                }
                Tok::RParen => break,
                Tok::End => return err(open, "unclosed `(` opened here"),
                t => {
                    return err(
                        self.span(),
                        format!(
                            "expected `,` or `)` in the list after `in`, found {}",
                            t.describe()
                        ),
                    );
                }
            }
        }
        let (_, close) = self.bump();
        let span = lhs.span.to(close);
        Ok(Expr {
            kind: ExprKind::InList {
                expr: Box::new(lhs),
                list,
                negated,
            },
            span,
        })
    }

    fn unary(&mut self, after: &str) -> Result<Expr, ParseError> {
        if *self.peek() == Tok::Op("-") {
            self.enter()?;
            let (_, s) = self.bump();
            let inner = self.unary("after `-`")?;
            self.depth -= 1;
            let span = s.to(inner.span);
            return Ok(Expr {
                kind: ExprKind::Unary {
                    op: UnaryOp::Neg,
                    expr: Box::new(inner),
                },
                span,
            });
        }
        self.primary(after)
    }

    fn primary(&mut self, after: &str) -> Result<Expr, ParseError> {
        let span = self.span();
        let kind = match self.peek().clone() {
            Tok::Int(v) => {
                self.bump();
                ExprKind::Int(v)
            }
            Tok::Float(v) => {
                self.bump();
                ExprKind::Float(v)
            }
            Tok::Str(s) => {
                self.bump();
                ExprKind::Str(s)
            }
            Tok::Kw("true") => {
                self.bump();
                ExprKind::Bool(true)
            }
            Tok::Kw("false") => {
                self.bump();
                ExprKind::Bool(false)
            }
            Tok::Kw("null") => {
                self.bump();
                ExprKind::Null
            }
            Tok::LParen => {
                let (_, open) = self.bump();
                let inner = self.binary(1, "after `(`")?;
                match self.peek() {
                    Tok::RParen => {
                        let (_, close) = self.bump();
                        return Ok(Expr {
                            kind: inner.kind,
                            span: open.to(close),
                        });
                    }
                    Tok::End => return err(open, "unclosed `(` opened here"),
                    t => return err(self.span(), format!("expected `)`, found {}", t.describe())),
                }
            }
            Tok::Name(first) => {
                self.bump();
                let mut path = vec![first];
                let mut end = span;
                while *self.peek() == Tok::Dot {
                    self.bump();
                    match self.peek().clone() {
                        Tok::Name(n) => {
                            end = self.span();
                            self.bump();
                            path.push(n);
                        }
                        t => {
                            return err(
                                self.span(),
                                format!("expected a name after `.`, found {}", t.describe()),
                            );
                        }
                    }
                }
                if *self.peek() == Tok::LParen {
                    let name = path.join(".");
                    let (_, open) = self.bump();
                    let mut args = Vec::new();
                    if *self.peek() != Tok::RParen {
                        loop {
                            args.push(self.binary(1, &format!("as an argument of `{name}`"))?);
                            match self.peek() {
                                Tok::Comma => {
                                    self.bump();
                                }
                                Tok::RParen => break,
                                Tok::End => return err(open, "unclosed `(` opened here"),
                                t => {
                                    return err(
                                        self.span(),
                                        format!(
                                            "expected `)` to close the call to `{name}`, found {}",
                                            t.describe()
                                        ),
                                    );
                                }
                            }
                        }
                    }
                    let (_, close) = self.bump();
                    return Ok(Expr {
                        kind: ExprKind::Call {
                            name,
                            name_span: span.to(end),
                            args,
                        },
                        span: span.to(close),
                    });
                }
                return Ok(Expr {
                    kind: ExprKind::Ident(path),
                    span: span.to(end),
                });
            }
            _ => return Err(self.expected_expr(after)),
        };
        Ok(Expr { kind, span })
    }
}

/// Parses one expression; the whole input must be used.
pub fn parse(src: &str) -> Result<Expr, ParseError> {
    let toks = lex(src)?;
    let mut p = Parser {
        toks,
        pos: 0,
        depth: 0,
    };
    if *p.peek() == Tok::End {
        return err(p.span(), "expected an expression, found end of input");
    }
    let e = p.binary(1, "here")?;
    match p.peek() {
        Tok::End => Ok(e),
        Tok::RParen => err(p.span(), "unmatched `)`"),
        t => err(
            p.span(),
            format!(
                "expected an operator or the end of the expression, found {}",
                t.describe()
            ),
        ),
    }
}

impl Expr {
    /// Visits every node, parents before children.
    pub fn walk(&self, f: &mut impl FnMut(&Expr)) {
        f(self);
        match &self.kind {
            ExprKind::Unary { expr, .. } | ExprKind::IsNull { expr, .. } => expr.walk(f),
            ExprKind::Binary { lhs, rhs, .. } => {
                lhs.walk(f);
                rhs.walk(f);
            }
            ExprKind::InList { expr, list, .. } => {
                expr.walk(f);
                list.iter().for_each(|x| x.walk(f));
            }
            ExprKind::Call { args, .. } => args.iter().for_each(|x| x.walk(f)),
            _ => {}
        }
    }
}

impl fmt::Display for Expr {
    /// Canonical text, parenthesised so that it parses back to the same tree.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.kind {
            ExprKind::Int(v) => write!(f, "{v}"),
            ExprKind::Float(v) => {
                if v.fract() == 0.0 && v.is_finite() {
                    write!(f, "{v:.1}")
                } else {
                    write!(f, "{v}")
                }
            }
            ExprKind::Str(s) => {
                if s.contains('\'') {
                    write!(f, "\"{s}\"")
                } else {
                    write!(f, "'{s}'")
                }
            }
            ExprKind::Bool(b) => write!(f, "{b}"),
            ExprKind::Null => f.write_str("null"),
            ExprKind::Ident(p) => f.write_str(&p.join(".")),
            ExprKind::Unary {
                op: UnaryOp::Not,
                expr,
            } => write!(f, "(not {expr})"),
            ExprKind::Unary {
                op: UnaryOp::Neg,
                expr,
            } => write!(f, "(-{expr})"),
            ExprKind::Binary { op, lhs, rhs } => write!(f, "({lhs} {} {rhs})", op.symbol()),
            ExprKind::IsNull { expr, negated } => {
                write!(f, "({expr} is {}null)", if *negated { "not " } else { "" })
            }
            ExprKind::InList {
                expr,
                list,
                negated,
            } => {
                write!(f, "({expr} {}in (", if *negated { "not " } else { "" })?;
                for (i, x) in list.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "{x}")?;
                }
                f.write_str("))")
            }
            ExprKind::Call { name, args, .. } => {
                write!(f, "{name}(")?;
                for (i, x) in args.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "{x}")?;
                }
                f.write_str(")")
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> String {
        parse(s).unwrap().to_string()
    }

    fn e(s: &str) -> (usize, usize, String) {
        let x = parse(s).unwrap_err();
        (x.span.start, x.span.end, x.message)
    }

    /// Spans removed, for comparing trees.
    fn strip(x: &Expr) -> String {
        format!("{x}")
    }

    #[test]
    fn precedence_and_associativity() {
        assert_eq!(p("a or b and c"), "(a or (b and c))");
        assert_eq!(p("not a and b"), "((not a) and b)");
        assert_eq!(p("not a == 1"), "(not (a == 1))");
        assert_eq!(p("a + b * c - d"), "((a + (b * c)) - d)");
        assert_eq!(p("a - b - c"), "((a - b) - c)");
        assert_eq!(p("-a * 2"), "((-a) * 2)");
        assert_eq!(
            p("age >= params.min_age and not in_hospital"),
            "((age >= params.min_age) and (not in_hospital))"
        );
        assert_eq!(p("x = 1 or y <> 2"), "((x == 1) or (y != 2))");
        assert_eq!(p("not x in ('A')"), "(not (x in ('A')))");
        assert_eq!(p("x not in ('A', 'B',)"), "(x not in ('A', 'B'))");
        assert_eq!(p("d is null or d > R"), "((d is null) or (d > R))");
        assert_eq!(p("d is not null"), "(d is not null)");
        assert_eq!(p("(a or b) and c"), "((a or b) and c)");
    }

    #[test]
    fn literals_names_and_calls() {
        assert_eq!(parse("65").unwrap().kind, ExprKind::Int(65));
        assert_eq!(parse("0.5").unwrap().kind, ExprKind::Float(0.5));
        assert_eq!(parse("'IN'").unwrap().kind, ExprKind::Str("IN".into()));
        assert_eq!(parse("\"28\"").unwrap().kind, ExprKind::Str("28".into()));
        assert_eq!(parse("true").unwrap().kind, ExprKind::Bool(true));
        assert_eq!(parse("null").unwrap().kind, ExprKind::Null);
        assert_eq!(
            parse("params.min_age").unwrap().kind,
            ExprKind::Ident(vec!["params".into(), "min_age".into()])
        );
        assert_eq!(p("f()"), "f()");
        assert_eq!(
            p("last_days(end_date, params.discharge_days)"),
            "last_days(end_date, params.discharge_days)"
        );
        let c = parse("  last_days(x, 3)").unwrap();
        match c.kind {
            ExprKind::Call { name_span, .. } => assert_eq!(name_span, Span::new(2, 11)),
            _ => panic!(),
        }
        assert_eq!(c.span, Span::new(2, 17));
    }

    #[test]
    fn korean_strings_keep_byte_spans() {
        let x = parse("label == '요양병원' and y").unwrap();
        let mut spans = vec![];
        x.walk(&mut |n| {
            if let ExprKind::Str(s) = &n.kind {
                spans.push((s.clone(), n.span));
            }
        });
        assert_eq!(spans, vec![("요양병원".to_string(), Span::new(9, 23))]);
        assert_eq!(e("'요양' @"), (9, 10, "unexpected character `@`".into()));
        assert_eq!(e("a == 가"), (5, 8, "unexpected character `가`".into()));
    }

    #[test]
    fn error_messages_and_spans() {
        assert_eq!(
            e("a and"),
            (
                5,
                5,
                "expected an expression after `and`, found end of input".into()
            )
        );
        assert_eq!(
            e("a && b"),
            (2, 4, "`&&` is not an operator here: use `and`".into())
        );
        assert_eq!(
            e("a || b"),
            (2, 4, "`||` is not an operator here: use `or`".into())
        );
        assert_eq!(
            e("a & b"),
            (2, 3, "unexpected character `&`: use `and`".into())
        );
        assert_eq!(
            e("!a"),
            (0, 1, "unexpected character `!`: use `not`".into())
        );
        assert_eq!(e("(a or b"), (0, 1, "unclosed `(` opened here".into()));
        assert_eq!(e("f(a;"), (3, 4, "unexpected character `;`".into()));
        assert_eq!(
            e("f(a b)"),
            (
                4,
                5,
                "expected `)` to close the call to `f`, found `b`".into()
            )
        );
        assert_eq!(
            e("a < b < c"),
            (
                6,
                7,
                "comparisons cannot be chained: write `a < b and b < c`".into()
            )
        );
        assert_eq!(
            e("a in 'x'"),
            (
                5,
                8,
                "expected `(` or a list parameter after `in`, found 'x'".into()
            )
        );
        assert_eq!(p("kind in params.kinds"), "(kind in (params.kinds))");
        assert_eq!(
            e("a in ()"),
            (
                6,
                7,
                "the list after `in` is empty: give at least one value".into()
            )
        );
        assert_eq!(
            e("'abc"),
            (0, 1, "unterminated string: add the closing quote".into())
        );
        assert_eq!(
            e(""),
            (0, 0, "expected an expression, found end of input".into())
        );
        assert_eq!(
            e("a b"),
            (
                2,
                3,
                "expected an operator or the end of the expression, found `b`".into()
            )
        );
        assert_eq!(e("a)"), (1, 2, "unmatched `)`".into()));
        assert_eq!(
            e("99999999999999999999"),
            (
                0,
                20,
                "`99999999999999999999` is too large for a whole number".into()
            )
        );
        assert_eq!(
            e("a is 1"),
            (5, 6, "expected `null` after `is`, found `1`".into())
        );
        assert_eq!(
            e("params."),
            (7, 7, "expected a name after `.`, found end of input".into())
        );
    }

    #[test]
    fn round_trips() {
        for s in [
            "care_type == 'IN' and provider_kind in ('01','11','21','28','29') and last_days(end_date, params.discharge_days)",
            "stay_days >= 14 or provider_kind = '28'",
            "points * 2 + 10 - -3",
            "date('2026-03-27') <= R",
            "not (a or b) and c is not null",
            "x not in (1, 2.5, null, true)",
            "label == \"it's\"",
        ] {
            let a = parse(s).unwrap();
            let b = parse(&a.to_string()).unwrap();
            assert_eq!(strip(&a), strip(&b), "{s}");
            assert_eq!(a.to_string(), b.to_string());
        }
    }

    #[test]
    fn deep_nesting_is_an_error_not_a_crash() {
        let s = format!("{}a{}", "(".repeat(500), ")".repeat(500));
        assert!(parse(&s).unwrap_err().message.contains("nests deeper"));
        let s = format!("{}a", "not ".repeat(500));
        assert!(parse(&s).is_err());
        let s = format!("{}a", "-".repeat(500));
        assert!(parse(&s).is_err());
    }

    #[test]
    fn no_panic_on_noise() {
        let pieces = [
            "a", "b.c", "(", ")", ",", "and", "or", "not", "in", "is", "null", "1", "2.5", "'s'",
            "\"", "'", "==", "=", "<", ">=", "<>", "+", "-", "*", "/", "f(", "요", "&", "|", "!",
            ".", " ", "true",
        ];
        let mut x: u64 = 0x2545F4914F6CDD1D;
        for _ in 0..5000 {
            let mut s = String::new();
            x = x
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            let n = (x >> 59) as usize + 1;
            for _ in 0..n {
                x = x
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                s.push_str(pieces[(x >> 33) as usize % pieces.len()]);
            }
            if let Err(er) = parse(&s) {
                assert!(
                    er.span.start <= er.span.end && er.span.end <= s.len(),
                    "{s:?}: {er:?}"
                );
                assert!(s.is_char_boundary(er.span.start) && s.is_char_boundary(er.span.end));
            }
        }
    }
}
