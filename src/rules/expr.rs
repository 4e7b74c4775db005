//! The expression language of rule and mapping files: lexer and parser to an AST with byte
//! spans, so that every later error can put a caret under the offending text. Syntax only:
//! no types, no evaluation.
//!
//! ```text
//! expr       = or_expr ;
//! or_expr    = and_expr , { "or" , and_expr } ;
//! and_expr   = not_expr , { "and" , not_expr } ;
//! not_expr   = "not" , not_expr | comparison ;
//! comparison = sum , [ cmp_op , sum                      (* non-associative *)
//!                    | "is" , [ "not" ] , "null"
//!                    | [ "not" ] , "in" , ( "(" , expr_list , ")" | PATH ) ] ;
//! cmp_op     = "==" | "=" | "!=" | "<>" | "<" | "<=" | ">" | ">=" ;
//! sum        = product , { ( "+" | "-" ) , product } ;
//! product    = unary , { ( "*" | "/" ) , unary } ;
//! unary      = "-" , unary | primary ;
//! primary    = INT | DECIMAL | STRING | "true" | "false" | "null"
//!            | NAME , "(" , [ expr_list ] , ")"           (* call *)
//!            | PATH                                       (* column, feature, parameter *)
//!            | "(" , expr , ")" ;
//! expr_list  = expr , { "," , expr } , [ "," ] ;
//! PATH       = NAME , { "." , NAME } ;                    (* no spaces around "." *)
//! NAME       = ( letter | "_" ) , { letter | digit | "_" } ;   (* ASCII, not a keyword *)
//! INT        = digit , { digit } ;                        (* at most 9223372036854775807 *)
//! DECIMAL    = digit , { digit } , "." , digit , { digit } ;
//! STRING     = "'" , { char - "'" } , "'" | '"' , { char - '"' } , '"' ;
//! ```
//!
//! Keywords are lower case: `and or not in is null true false`; `AND`, `Null`, … are errors
//! (not names), so that SQL habits get a clear message. Whitespace (newlines included) separates
//! tokens; there are no comments. `not x in (…)` is `not (x in (…))`; `x not in (…)` is the
//! negated list test. `x in params.list` stands for a list parameter and parses as an
//! [`ExprKind::InList`] whose list is that one name. A `-` before a number is the [`UnaryOp::Neg`]
//! operator, so literals are never negative. The span of a parenthesised expression covers its
//! parentheses. Nesting (and the height of the tree) is capped at [`MAX_DEPTH`].

use std::fmt;

/// Deepest nesting accepted: parentheses, calls, lists and operators inside one another, and
/// also the height of the tree (so a chain of 201 `or`s is refused too).
pub const MAX_DEPTH: usize = 200;

/// Byte offsets into the source, `end` exclusive.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Span {
    pub start: usize,
    pub end: usize,
}

impl Span {
    pub fn new(start: usize, end: usize) -> Span {
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
    /// A possibly dotted name: `age`, `R`, `params.min_age` -> `["params", "min_age"]`.
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
    /// `x in (a, b, c)` / `x not in (a, b)`; `x in params.list` has the one-name list.
    InList {
        expr: Box<Expr>,
        list: Vec<Expr>,
        negated: bool,
    },
    /// `name(arg, ...)`; `name_span` covers the function name only.
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

/// Each binary operator as the lexer spells it, and its precedence (1 binds loosest).
const BINOPS: [(&str, BinOp, u8); 12] = [
    ("or", BinOp::Or, 1),
    ("and", BinOp::And, 2),
    ("==", BinOp::Eq, 4),
    ("!=", BinOp::Ne, 4),
    ("<", BinOp::Lt, 4),
    ("<=", BinOp::Le, 4),
    (">", BinOp::Gt, 4),
    (">=", BinOp::Ge, 4),
    ("+", BinOp::Add, 5),
    ("-", BinOp::Sub, 5),
    ("*", BinOp::Mul, 6),
    ("/", BinOp::Div, 6),
];

impl BinOp {
    /// The canonical spelling (`=` is written `==`, `<>` is written `!=`).
    pub fn symbol(self) -> &'static str {
        BINOPS.iter().find(|o| o.1 == self).map_or("?", |o| o.0)
    }
    fn precedence(self) -> u8 {
        BINOPS.iter().find(|o| o.1 == self).map_or(0, |o| o.2)
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

/// Errors travel boxed inside the parser, to keep its recursive stack frames small.
type Fail = Box<ParseError>;

fn fail(span: Span, message: impl Into<String>) -> Fail {
    let message = message.into();
    Box::new(ParseError { span, message })
}

/// Source text in backticks for a message, cut after 40 characters.
fn quote(text: &str) -> String {
    match text.char_indices().nth(40) {
        Some((i, _)) => format!("`{}…`", &text[..i]),
        None => format!("`{text}`"),
    }
}

// ---------------------------------------------------------------------------------------------
// Lexer: one token at a time, on demand, so that errors come out in source order.

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Int(i64),
    Float(f64),
    Str(String),
    Path(Vec<String>),
    /// A keyword or punctuation, canonically spelt (`=` is `==`, `<>` is `!=`).
    Sym(&'static str),
    /// Any other character: the parser reports it where it stands.
    Other,
    Eof,
}

#[derive(Debug, Clone)]
struct Token {
    tok: Tok,
    span: Span,
}

const KEYWORDS: [&str; 8] = ["and", "or", "not", "in", "is", "null", "true", "false"];
/// Punctuation, longest first.
const PUNCT: [&str; 15] = [
    "==", "!=", "<>", "<=", ">=", "=", "<", ">", "(", ")", ",", "+", "-", "*", "/",
];

fn is_name_char(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_'
}

#[derive(Clone)]
struct Lexer<'a> {
    src: &'a str,
    pos: usize,
}

impl Lexer<'_> {
    fn next_token(&mut self) -> Result<Token, Fail> {
        let rest = self.src[self.pos..].trim_start();
        self.pos = self.src.len() - rest.len();
        let Some(c) = rest.chars().next() else {
            return Ok(self.token(Tok::Eof, 0));
        };
        if let Some(p) = PUNCT.iter().find(|p| rest.starts_with(**p)) {
            let sym = match *p {
                "=" => "==",
                "<>" => "!=",
                p => p,
            };
            return Ok(self.token(Tok::Sym(sym), p.len()));
        }
        let at = |len: usize| Span::new(self.pos, self.pos + len);
        let next = rest[c.len_utf8()..].chars().next();
        match c {
            '&' | '|' | '!' => {
                let word = ["and", "or", "not"]["&|!".find(c).unwrap_or(2)];
                Err(if c != '!' && next == Some(c) {
                    fail(
                        at(2),
                        format!("`{c}{c}` is not an operator here: use `{word}`"),
                    )
                } else {
                    fail(at(1), format!("unexpected character `{c}`: use `{word}`"))
                })
            }
            '\'' | '"' => self.string(c),
            '0'..='9' => self.number(),
            '.' if next.is_some_and(|d| d.is_ascii_digit()) => {
                let digits = rest[1..].bytes().take_while(u8::is_ascii_digit).count();
                let text = &rest[..1 + digits];
                let msg = format!("a number must start with a digit: write `0{text}`");
                Err(fail(at(1 + digits), msg))
            }
            _ if c.is_ascii_alphabetic() || c == '_' => self.path(),
            _ if c.is_alphabetic() => {
                let msg = format!(
                    "unexpected character `{c}`: names use only A-Z, a-z, 0-9 and `_` \
                     (put text in quotes)"
                );
                Err(fail(at(c.len_utf8()), msg))
            }
            _ => Ok(self.token(Tok::Other, c.len_utf8())),
        }
    }

    /// The token of `len` bytes here; moves past it.
    fn token(&mut self, tok: Tok, len: usize) -> Token {
        let span = Span::new(self.pos, self.pos + len);
        self.pos += len;
        Token { tok, span }
    }

    fn string(&mut self, q: char) -> Result<Token, Fail> {
        let body = &self.src[self.pos + 1..];
        let Some(len) = body.find(q) else {
            let msg = format!("unterminated string: no closing {q} for the quote opened here");
            return Err(fail(Span::new(self.pos, self.pos + 1), msg));
        };
        Ok(self.token(Tok::Str(body[..len].to_string()), len + 2))
    }

    fn number(&mut self) -> Result<Token, Fail> {
        let (src, start) = (self.src, self.pos);
        let digits = |i: usize| i + src[i..].bytes().take_while(u8::is_ascii_digit).count();
        let mut end = digits(start);
        let float = src[end..].starts_with('.') && digits(end + 1) > end + 1;
        if float {
            end = digits(end + 1);
        }
        let tail = src[end..]
            .bytes()
            .take_while(|&b| is_name_char(b) || b == b'.')
            .count();
        let (text, span) = (&src[start..end + tail], Span::new(start, end + tail));
        if tail > 0 {
            return Err(fail(span, format!("invalid number {}", quote(text))));
        }
        let tok = if float {
            text.parse()
                .ok()
                .filter(|v: &f64| v.is_finite())
                .map(Tok::Float)
        } else {
            text.parse().ok().map(Tok::Int)
        };
        match tok {
            Some(tok) => Ok(self.token(tok, text.len())),
            None if float => Err(fail(span, format!("number {} is too large", quote(text)))),
            None => {
                let max = i64::MAX;
                let msg = format!(
                    "integer {} is too large (the largest is {max})",
                    quote(text)
                );
                Err(fail(span, msg))
            }
        }
    }

    fn path(&mut self) -> Result<Token, Fail> {
        let (src, start) = (self.src, self.pos);
        let (mut segments, mut pos) = (Vec::new(), start);
        loop {
            let len = src[pos..].bytes().take_while(|&b| is_name_char(b)).count();
            segments.push(Span::new(pos, pos + len));
            pos += len;
            if !src[pos..].starts_with('.') {
                break;
            }
            match src[pos + 1..].chars().next() {
                Some(c) if c.is_ascii_alphabetic() || c == '_' => pos += 1,
                next => {
                    let found = match next {
                        None => "end of input".to_string(),
                        Some(c) if c.is_whitespace() => "a space".to_string(),
                        Some(c) => format!("`{c}`"),
                    };
                    let msg = format!("expected a name after `.`, found {found}");
                    return Err(fail(Span::new(pos, pos + 1), msg));
                }
            }
        }
        let words: Vec<&str> = segments.iter().map(|s| &src[s.start..s.end]).collect();
        if let [word] = words[..]
            && let Some(kw) = KEYWORDS.iter().find(|k| **k == word)
        {
            return Ok(self.token(Tok::Sym(kw), word.len()));
        }
        for (word, span) in words.iter().zip(&segments) {
            let lower = word.to_ascii_lowercase();
            if KEYWORDS.contains(&lower.as_str()) {
                let msg = if words.len() == 1 {
                    format!(
                        "keywords are written in lower case: write `{lower}` instead of `{word}`"
                    )
                } else {
                    format!("`{word}` is a keyword and cannot be part of a name")
                };
                return Err(fail(*span, msg));
            }
        }
        let path = words.iter().map(|w| w.to_string()).collect();
        Ok(self.token(Tok::Path(path), pos - start))
    }
}

// ---------------------------------------------------------------------------------------------
// Parser: precedence climbing. `binary(min)` takes the operators that bind at least as tightly
// as `min` (1 `or`, 2 `and`, 3 `not`, 4 comparisons, 5 `+ -`, 6 `* /`). Every recursion counts
// towards MAX_DEPTH, and frames are kept small (boxed results, messages built out of line), so
// that even unoptimised code stays well inside a 2 MiB thread stack.

/// A parsed node and the height of its tree (a leaf is 1).
type Parsed = Result<(Box<Expr>, usize), Fail>;

struct Parser<'a> {
    src: &'a str,
    lex: Lexer<'a>,
    tok: Token,
    prev: Option<Span>,
    depth: usize,
}

/// Parses one expression; the whole input must be used.
pub fn parse(src: &str) -> Result<Expr, ParseError> {
    let mut lex = Lexer { src, pos: 0 };
    let tok = lex.next_token().map_err(|e| *e)?;
    let mut p = Parser {
        src,
        lex,
        tok,
        prev: None,
        depth: 0,
    };
    let (e, _) = p.expr().map_err(|e| *e)?;
    match p.tok.tok {
        Tok::Eof => Ok(*e),
        Tok::Sym(")") => Err(*p.fail("unmatched `)`: there is no `(` before it", "")),
        _ => Err(*p.fail("expected an operator or end of input, found ", "")),
    }
}

/// Builds a node, refusing trees taller than [`MAX_DEPTH`] (long chains of operators).
fn node(kind: ExprKind, span: Span, height: usize) -> Parsed {
    if height > MAX_DEPTH {
        return Err(fail(span, too_deep()));
    }
    Ok((Box::new(Expr { kind, span }), height))
}

fn too_deep() -> String {
    format!("the expression is nested too deeply (more than {MAX_DEPTH} levels)")
}

impl Parser<'_> {
    fn is(&self, sym: &str) -> bool {
        matches!(self.tok.tok, Tok::Sym(s) if s == sym)
    }

    /// Moves to the next token; returns the span of the one passed.
    fn bump(&mut self) -> Result<Span, Fail> {
        let next = self.lex.next_token()?;
        let span = std::mem::replace(&mut self.tok, next).span;
        self.prev = Some(span);
        Ok(span)
    }

    /// An error at the current token. A `message` ending in "found " gets the token quoted
    /// (or "end of input"), then `hint`.
    #[inline(never)]
    fn fail(&self, message: &str, hint: &str) -> Fail {
        let mut m = message.to_string();
        if m.ends_with("found ") {
            match self.tok.tok {
                Tok::Eof => m.push_str("end of input"),
                _ => m.push_str(&quote(&self.src[self.tok.span.start..self.tok.span.end])),
            }
        }
        fail(self.tok.span, m + hint)
    }

    #[inline(never)]
    fn after_comparison(&self) -> Fail {
        let op = quote(&self.src[self.tok.span.start..self.tok.span.end]);
        let msg =
            format!("{op} cannot follow a comparison: use parentheses to say what it applies to");
        fail(self.tok.span, msg)
    }

    /// The error for a missing operand, naming the token before it.
    #[inline(never)]
    fn expected_expr(&self) -> Fail {
        match self.prev {
            Some(p) => {
                let after = quote(&self.src[p.start..p.end]);
                self.fail(&format!("expected an expression after {after}, found "), "")
            }
            None => self.fail("expected an expression, found ", ""),
        }
    }

    fn enter(&mut self) -> Result<(), Fail> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(self.fail(&too_deep(), ""));
        }
        Ok(())
    }

    fn expr(&mut self) -> Parsed {
        self.enter()?;
        let r = self.binary(1);
        self.depth -= 1;
        r
    }

    /// The binary operator at the current token and its precedence.
    fn binop(&self) -> Option<(BinOp, u8)> {
        let Tok::Sym(s) = self.tok.tok else {
            return None;
        };
        BINOPS.iter().find(|o| o.0 == s).map(|o| (o.1, o.2))
    }

    fn binary(&mut self, min: u8) -> Parsed {
        let (mut lhs, mut height) = if min <= 3 && self.is("not") {
            self.prefix(UnaryOp::Not)?
        } else {
            self.unary()?
        };
        let mut compared = false;
        loop {
            let prec = match self.binop() {
                Some((_, prec)) => prec,
                None if self.is("is") || self.is("in") || self.is("not") => 4,
                None => break,
            };
            if prec < min {
                break;
            }
            if prec == 4 && compared {
                let next = self.lex.clone().next_token();
                if self.is("not") && !next.is_ok_and(|t| t.tok == Tok::Sym("in")) {
                    break;
                }
                let msg = "comparisons cannot be chained: write `a < b and b < c`";
                return Err(self.fail(msg, ""));
            }
            if prec > 4 && compared {
                // Only after `is null` or `in …`: the right side of `a < b` took these.
                return Err(self.after_comparison());
            }
            compared = prec == 4;
            (lhs, height) = self.operator(lhs, height, prec)?;
        }
        Ok((lhs, height))
    }

    /// Applies the operator at the current token, of precedence `prec`, to `lhs`.
    fn operator(&mut self, lhs: Box<Expr>, lh: usize, prec: u8) -> Parsed {
        let Some((op, _)) = self.binop() else {
            return if self.is("is") {
                self.is_null(lhs, lh)
            } else {
                self.in_list(lhs, lh)
            };
        };
        self.bump()?;
        self.enter()?;
        // Comparisons do not chain: their right side is a sum.
        let (rhs, rh) = self.binary(if prec == 4 { 5 } else { prec + 1 })?;
        self.depth -= 1;
        let span = lhs.span.to(rhs.span);
        node(ExprKind::Binary { op, lhs, rhs }, span, 1 + lh.max(rh))
    }

    /// `not` or `-` and its operand.
    fn prefix(&mut self, op: UnaryOp) -> Parsed {
        let start = self.bump()?;
        self.enter()?;
        let (expr, h) = if op == UnaryOp::Not {
            self.binary(3)?
        } else {
            self.unary()?
        };
        self.depth -= 1;
        let span = start.to(expr.span);
        node(ExprKind::Unary { op, expr }, span, h + 1)
    }

    fn is_null(&mut self, expr: Box<Expr>, h: usize) -> Parsed {
        self.bump()?;
        let negated = self.is("not");
        if negated {
            self.bump()?;
        }
        if !self.is("null") {
            let after = if negated { "`is not`" } else { "`is`" };
            return Err(self.fail(&format!("expected `null` after {after}, found "), ""));
        }
        let span = expr.span.to(self.bump()?);
        node(ExprKind::IsNull { expr, negated }, span, h + 1)
    }

    /// `[not] in (a, b, …)` or `[not] in params.list`, from the `not` or `in`.
    fn in_list(&mut self, expr: Box<Expr>, h: usize) -> Parsed {
        let negated = self.is("not");
        self.bump()?;
        if negated {
            if !self.is("in") {
                let hint = if self.is("null") {
                    ": write `is not null`"
                } else {
                    ""
                };
                return Err(self.fail("expected `in` after `not`, found ", hint));
            }
            self.bump()?;
        }
        let (list, end, lh) = match &self.tok.tok {
            Tok::Sym("(") => {
                let open = self.bump()?;
                if self.is(")") {
                    return Err(self.list_error(negated, Some(open)));
                }
                self.items(open, None)?
            }
            Tok::Path(path) => {
                let kind = ExprKind::Ident(path.clone());
                let span = self.bump()?;
                (vec![Expr { kind, span }], span.end, 1)
            }
            _ => return Err(self.list_error(negated, None)),
        };
        let span = Span::new(expr.span.start, end);
        node(
            ExprKind::InList {
                expr,
                list,
                negated,
            },
            span,
            1 + h.max(lh),
        )
    }

    /// No list after `[not] in`: an empty one from `open`, or none at all.
    #[inline(never)]
    fn list_error(&self, negated: bool, open: Option<Span>) -> Fail {
        let kw = if negated { "`not in`" } else { "`in`" };
        match open {
            Some(open) => {
                let msg = format!("the list after {kw} is empty: give at least one value");
                fail(open.to(self.tok.span), msg)
            }
            None => self.fail(&format!("expected `(` after {kw}, found "), ""),
        }
    }

    /// Comma-separated expressions up to the `)` matching `open` (a trailing comma is fine):
    /// the arguments of the call to `call`, or else an `in` list. Returns them, the end of the
    /// `)` and their greatest height.
    fn items(&mut self, open: Span, call: Option<&str>) -> Result<(Vec<Expr>, usize, usize), Fail> {
        let (mut items, mut height) = (Vec::new(), 0);
        while !self.is(")") {
            let (e, h) = self.expr()?;
            items.push(*e);
            height = height.max(h);
            match self.tok.tok {
                Tok::Sym(",") => drop(self.bump()?),
                Tok::Sym(")") => {}
                Tok::Eof => return Err(fail(open, "unclosed `(` opened here")),
                _ => return Err(self.items_error(call)),
            }
        }
        Ok((items, self.bump()?.end, height))
    }

    #[inline(never)]
    fn items_error(&self, call: Option<&str>) -> Fail {
        match call {
            Some(name) => {
                let msg = format!("expected `)` to close the call to `{name}`, found ");
                self.fail(&msg, "")
            }
            None => self.fail("expected `,` or `)` in the list after `in`, found ", ""),
        }
    }

    fn unary(&mut self) -> Parsed {
        match self.tok.tok {
            Tok::Sym("-") => self.prefix(UnaryOp::Neg),
            Tok::Sym("(") => self.group(),
            Tok::Path(_) => self.name(),
            _ => self.literal(),
        }
    }

    fn group(&mut self) -> Parsed {
        let open = self.bump()?;
        let (mut e, h) = self.expr()?;
        match self.tok.tok {
            Tok::Sym(")") => {
                e.span = open.to(self.bump()?);
                Ok((e, h))
            }
            Tok::Eof => Err(fail(open, "unclosed `(` opened here")),
            _ => Err(self.fail("expected `)` or an operator, found ", "")),
        }
    }

    /// A column, feature or parameter name, or a call.
    fn name(&mut self) -> Parsed {
        let Tok::Path(path) = &self.tok.tok else {
            return Err(self.expected_expr());
        };
        let mut path = path.clone();
        let name_span = self.bump()?;
        if !self.is("(") {
            return node(ExprKind::Ident(path), name_span, 1);
        }
        if path.len() > 1 {
            let path = quote(&path.join("."));
            let msg = format!("{path} cannot be called: a function name has no `.`");
            return Err(fail(name_span, msg));
        }
        let name = path.pop().unwrap_or_default();
        let open = self.bump()?;
        let (args, end, h) = self.items(open, Some(&name))?;
        let span = Span::new(name_span.start, end);
        node(
            ExprKind::Call {
                name,
                name_span,
                args,
            },
            span,
            h + 1,
        )
    }

    fn literal(&mut self) -> Parsed {
        let kind = match &self.tok.tok {
            Tok::Int(v) => ExprKind::Int(*v),
            Tok::Float(v) => ExprKind::Float(*v),
            Tok::Str(s) => ExprKind::Str(s.clone()),
            Tok::Sym("true") => ExprKind::Bool(true),
            Tok::Sym("false") => ExprKind::Bool(false),
            Tok::Sym("null") => ExprKind::Null,
            _ => return Err(self.expected_expr()),
        };
        node(kind, self.bump()?, 1)
    }
}

// ---------------------------------------------------------------------------------------------
// Walking and printing

impl Expr {
    /// Visits every node, parents before children, left to right.
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

    /// Prints `self`, in parentheses if it binds more loosely than precedence `min`
    /// (1 `or` … 4 comparisons … 6 `* /`, 7 `-x`, 8 atoms).
    fn fmt_at(&self, f: &mut fmt::Formatter<'_>, min: u8) -> fmt::Result {
        let prec = match &self.kind {
            ExprKind::Binary { op, .. } => op.precedence(),
            ExprKind::Unary {
                op: UnaryOp::Not, ..
            } => 3,
            ExprKind::IsNull { .. } | ExprKind::InList { .. } => 4,
            ExprKind::Unary {
                op: UnaryOp::Neg, ..
            } => 7,
            _ => 8,
        };
        if prec < min {
            write!(f, "({self})")
        } else {
            write!(f, "{self}")
        }
    }
}

fn fmt_list(f: &mut fmt::Formatter<'_>, items: &[Expr]) -> fmt::Result {
    for (i, x) in items.iter().enumerate() {
        write!(f, "{}{x}", if i > 0 { ", " } else { "" })?;
    }
    f.write_str(")")
}

impl fmt::Display for Expr {
    /// Canonical text with only the parentheses needed. Every tree that [`parse`] returns
    /// prints to text that parses back to the same tree, spans aside.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.kind {
            ExprKind::Int(v) => write!(f, "{v}"),
            ExprKind::Float(v) if v.is_finite() && v.fract() == 0.0 => write!(f, "{v:.1}"),
            ExprKind::Float(v) => write!(f, "{v}"),
            ExprKind::Str(s) if s.contains('\'') => write!(f, "\"{s}\""),
            ExprKind::Str(s) => write!(f, "'{s}'"),
            ExprKind::Bool(b) => write!(f, "{b}"),
            ExprKind::Null => f.write_str("null"),
            ExprKind::Ident(path) => f.write_str(&path.join(".")),
            ExprKind::Unary { op, expr } => {
                let (text, prec) = if *op == UnaryOp::Not {
                    ("not ", 3)
                } else {
                    ("-", 7)
                };
                f.write_str(text)?;
                expr.fmt_at(f, prec)
            }
            ExprKind::Binary { op, lhs, rhs } => {
                let p = op.precedence();
                // Comparisons do not chain, so neither side may be a comparison.
                lhs.fmt_at(f, if p == 4 { 5 } else { p })?;
                write!(f, " {} ", op.symbol())?;
                rhs.fmt_at(f, p + 1)
            }
            ExprKind::IsNull { expr, negated } => {
                expr.fmt_at(f, 5)?;
                f.write_str(if *negated { " is not null" } else { " is null" })
            }
            ExprKind::InList {
                expr,
                list,
                negated,
            } => {
                expr.fmt_at(f, 5)?;
                f.write_str(if *negated { " not in (" } else { " in (" })?;
                fmt_list(f, list)
            }
            ExprKind::Call { name, args, .. } => {
                write!(f, "{name}(")?;
                fmt_list(f, args)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The tree as an S-expression: shows the grouping and the literal kinds, hides spans.
    fn sx(e: &Expr) -> String {
        let all = |xs: &[Expr]| xs.iter().map(sx).collect::<Vec<_>>().join(" ");
        let not = |negated: &bool| if *negated { "not-" } else { "" };
        match &e.kind {
            ExprKind::Float(v) => format!("{v:?}"),
            ExprKind::Str(s) => format!("'{s}'"),
            ExprKind::Int(v) => v.to_string(),
            ExprKind::Bool(_) | ExprKind::Null => format!("#{e}"),
            ExprKind::Ident(p) => p.join("."),
            ExprKind::Unary { op, expr } => format!("({op:?} {})", sx(expr)),
            ExprKind::Binary { op, lhs, rhs } => {
                format!("({} {} {})", op.symbol(), sx(lhs), sx(rhs))
            }
            ExprKind::IsNull { expr, negated } => format!("({}null {})", not(negated), sx(expr)),
            ExprKind::InList {
                expr,
                list,
                negated,
            } => {
                format!("({}in {} [{}])", not(negated), sx(expr), all(list))
            }
            ExprKind::Call { name, args, .. } => format!("{name}({})", all(args)),
        }
    }

    fn p(src: &str) -> String {
        parse(src).map_or_else(|e| panic!("{src:?}: {e}"), |e| sx(&e))
    }

    /// "start..end message" for the error that `src` gives.
    fn e(src: &str) -> String {
        let er = parse(src).expect_err(src);
        format!("{}..{} {}", er.span.start, er.span.end, er.message)
    }

    /// The non-blank lines of `text`, trimmed and split at " => ".
    fn table(text: &str) -> Vec<(&str, &str)> {
        let lines = text.lines().map(str::trim).filter(|l| !l.is_empty());
        lines.map(|l| l.split_once(" => ").expect(l)).collect()
    }

    /// The tree's `Debug` text without the spans.
    fn shape(e: &Expr) -> String {
        let text = format!("{e:?}");
        let mut parts = text.split("Span { ");
        let first = parts.next().unwrap_or_default().to_string();
        first
            + &parts
                .map(|p| p.split_once('}').map_or(p, |x| x.1))
                .collect::<String>()
    }

    fn assert_round_trip(src: &str, x: &Expr) {
        let text = x.to_string();
        let back = parse(&text).unwrap_or_else(|er| panic!("{src:?} printed as {text:?}: {er}"));
        assert_eq!(shape(&back), shape(x), "{src:?} printed as {text:?}");
    }

    fn assert_span_ok(src: &str, s: Span) {
        let ok = s.start <= s.end
            && s.end <= src.len()
            && src.is_char_boundary(s.start)
            && src.is_char_boundary(s.end);
        assert!(ok, "{src:?}: {s:?}");
    }

    #[test]
    fn precedence_and_associativity() {
        let cases = r#"
            a or b and c => (or a (and b c))
            a and b or c => (or (and a b) c)
            a or b or c => (or (or a b) c)
            a and b and c => (and (and a b) c)
            not a and b => (and (Not a) b)
            not not a => (Not (Not a))
            not a = 1 => (Not (== a 1))
            a = b + 1 * c => (== a (+ b (* 1 c)))
            a - b - c => (- (- a b) c)
            a / b * c => (* (/ a b) c)
            -a * 2 => (* (Neg a) 2)
            - -a => (Neg (Neg a))
            a - -1 => (- a (Neg 1))
            -f(x) * 2 => (* (Neg f(x)) 2)
            (a or b) and c => (and (or a b) c)
            not x in ('A') => (Not (in x ['A']))
            x not in ('A', 'B',) => (not-in x ['A' 'B'])
            d is null or d > R => (or (null d) (> d R))
            x + 1 is not null => (not-null (+ x 1))
            kind in params.kinds and b => (and (in kind [params.kinds]) b)
            x <> 1 and y != 2 and z == 3 => (and (and (!= x 1) (!= y 2)) (== z 3))
            age >= params.min_age and not in_hospital => (and (>= age params.min_age) (Not in_hospital))
            stay_days >= 14 or provider_kind = '28' => (or (>= stay_days 14) (== provider_kind '28'))
            latest_grade in ('A', "B") => (in latest_grade ['A' 'B'])
            death_date is null or death_date > R => (or (null death_date) (> death_date R))
            dx_groups >= 2 => (>= dx_groups 2)
            points * 2 + 10 => (+ (* points 2) 10)
            date('2026-03-27') <= R => (<= date('2026-03-27') R)
            care_type == 'IN' and provider_kind in ('01','11','21','28','29') and last_days(end_date, params.discharge_days) => (and (and (== care_type 'IN') (in provider_kind ['01' '11' '21' '28' '29'])) last_days(end_date params.discharge_days))
        "#;
        for (src, want) in table(cases) {
            assert_eq!(p(src), want, "{src}");
        }
        assert_eq!(p("a\n  and\r\n\tb"), "(and a b)");
    }

    #[test]
    fn literals_names_and_calls() {
        let cases = r#"
            65 => 65
            007 => 7
            9223372036854775807 => 9223372036854775807
            0.5 => 0.5
            12.250 => 12.25
            'IN' => 'IN'
            "28" => '28'
            '' => ''
            "it's" => 'it's'
            'a "b"' => 'a "b"'
            true => #true
            false => #false
            null => #null
            R => R
            _x9 => _x9
            in_hospital => in_hospital
            nullable => nullable
            params.min_age => params.min_age
            a.b_2.c => a.b_2.c
            f() => f()
            year(d) => year(d)
            if(a or b, 'x', -1,) => if((or a b) 'x' (Neg 1))
            f (g(1), h()) => f(g(1) h())
        "#;
        for (src, want) in table(cases) {
            let x = parse(src).unwrap();
            assert_eq!(
                (sx(&x), x.span),
                (want.into(), Span::new(0, src.len())),
                "{src}"
            );
        }
        let path = parse("  params.min_age\n").unwrap();
        let want = ExprKind::Ident(vec!["params".into(), "min_age".into()]);
        assert_eq!((path.kind, path.span), (want, Span::new(2, 16)));
        let call = parse(" last_days(x)").unwrap().kind;
        assert!(matches!(
            call,
            ExprKind::Call {
                name_span: Span { start: 1, end: 10 },
                ..
            }
        ));
    }

    #[test]
    fn spans_in_walk_order() {
        // Every node's span, parents before children, left to right.
        let cases = r#"
            kind in ('01', '11') => 0..20 0..4 9..13 15..19
            x not in (1) => 0..12 0..1 10..11
            k not in params.kinds => 0..21 0..1 9..21
            d is null => 0..9 0..1
            d is not null => 0..13 0..1
            not -x => 0..6 4..6 5..6
            ( a ) and (b+1) => 0..15 0..5 10..15 11..12 13..14
            f(a + b, c) and not d => 0..21 0..11 2..7 2..3 6..7 9..10 16..21 20..21
            last_days(end_date, params.discharge_days) => 0..42 10..18 20..41
        "#;
        for (src, want) in table(cases) {
            let mut spans = Vec::new();
            parse(src)
                .unwrap()
                .walk(&mut |n| spans.push(format!("{}..{}", n.span.start, n.span.end)));
            assert_eq!(spans.join(" "), want, "{src}");
        }
    }

    #[test]
    fn error_messages_and_spans() {
        let cases = r#"
            age >= 18 and => 13..13 expected an expression after `and`, found end of input
            a & b => 2..3 unexpected character `&`: use `and`
            a && b => 2..4 `&&` is not an operator here: use `and`
            a | b => 2..3 unexpected character `|`: use `or`
            a || b => 2..4 `||` is not an operator here: use `or`
            !in_hospital => 0..1 unexpected character `!`: use `not`
            a and (b or c => 6..7 unclosed `(` opened here
            f(a, (b) => 1..2 unclosed `(` opened here
            x in (1, 2 => 5..6 unclosed `(` opened here
            last_days(end_date, 3; => 21..22 expected `)` to close the call to `last_days`, found `;`
            a < b < c => 6..7 comparisons cannot be chained: write `a < b and b < c`
            a = b is null => 6..8 comparisons cannot be chained: write `a < b and b < c`
            a in (1) not in (2) => 9..12 comparisons cannot be chained: write `a < b and b < c`
            x in 'A' => 5..8 expected `(` after `in`, found `'A'`
            x not in 1 => 9..10 expected `(` after `not in`, found `1`
            x in () => 5..7 the list after `in` is empty: give at least one value
            x in (1 2) => 8..9 expected `,` or `)` in the list after `in`, found `2`
            x = 'abc => 4..5 unterminated string: no closing ' for the quote opened here
            x = "abc' => 4..5 unterminated string: no closing " for the quote opened here
            () => 1..2 expected an expression after `(`, found `)`
            f(,) => 2..3 expected an expression after `(`, found `,`
            a = = b => 4..5 expected an expression after `=`, found `=`
            in = 1 => 0..2 expected an expression, found `in`
            (a b) => 3..4 expected `)` or an operator, found `b`
            a b => 2..3 expected an operator or end of input, found `b`
            a = b not c => 6..9 expected an operator or end of input, found `not`
            x is null + 1 => 10..11 `+` cannot follow a comparison: use parentheses to say what it applies to
            k in params.kinds * 2 < 3 => 18..19 `*` cannot follow a comparison: use parentheses to say what it applies to
            age > 65 # old => 9..10 expected an operator or end of input, found `#`
            a) => 1..2 unmatched `)`: there is no `(` before it
            99999999999999999999 => 0..20 integer `99999999999999999999` is too large (the largest is 9223372036854775807)
            65abc => 0..5 invalid number `65abc`
            1.2.3 => 0..5 invalid number `1.2.3`
            x > 1. => 4..6 invalid number `1.`
            x > .5 => 4..6 a number must start with a digit: write `0.5`
            x is 1 => 5..6 expected `null` after `is`, found `1`
            x is not true => 9..13 expected `null` after `is not`, found `true`
            x not null => 6..10 expected `in` after `not`, found `null`: write `is not null`
            x IS NULL => 2..4 keywords are written in lower case: write `is` instead of `IS`
            params.in => 7..9 `in` is a keyword and cannot be part of a name
            params. => 6..7 expected a name after `.`, found end of input
            params.1 => 6..7 expected a name after `.`, found `1`
            params . x => 7..8 expected an operator or end of input, found `.`
            a.b(1) => 0..3 `a.b` cannot be called: a function name has no `.`
        "#;
        for (src, want) in table(cases) {
            assert_eq!(e(src), want, "{src:?}");
        }
        assert_eq!(e(""), "0..0 expected an expression, found end of input");
        assert_eq!(
            e("  \n "),
            "4..4 expected an expression, found end of input"
        );
        let long = format!("a {}", "b".repeat(60));
        let cut = format!(
            "2..62 expected an operator or end of input, found `{}…`",
            "b".repeat(40)
        );
        assert_eq!(e(&long), cut);
        let er = parse("a &&").unwrap_err();
        assert_eq!(er.to_string(), er.message);
    }

    #[test]
    fn korean_text_keeps_byte_spans() {
        let src = "name == '홍길동' and x";
        let mut leaves = Vec::new();
        parse(src).unwrap().walk(&mut |n| {
            if matches!(n.kind, ExprKind::Str(_) | ExprKind::Ident(_)) {
                leaves.push(format!("{} {}..{}", sx(n), n.span.start, n.span.end));
            }
        });
        assert_eq!(leaves, ["name 0..4", "'홍길동' 8..19", "x 24..25"]);
        assert_eq!(&src[8..19], "'홍길동'");
        let cases = r#"
            '요양병원' & x => 15..16 unexpected character `&`: use `and`
            kind == '요양 => 8..9 unterminated string: no closing ' for the quote opened here
            나이 >= 65 => 0..3 unexpected character `나`: names use only A-Z, a-z, 0-9 and `_` (put text in quotes)
            f('가나다' '라') => 14..19 expected `)` to close the call to `f`, found `'라'`
            x = 1 ； => 6..9 expected an operator or end of input, found `；`
        "#;
        for (src, want) in table(cases) {
            assert_eq!(e(src), want, "{src:?}");
        }
        assert_eq!(p("x\u{3000}= '가'"), "(== x '가')");
    }

    #[test]
    fn printing_round_trips() {
        let cases = r#"
            a or b and c => a or b and c
            (a or b) and c => (a or b) and c
            a - (b - c) => a - (b - c)
            ((a - b)) - c => a - b - c
            not (a or b) => not (a or b)
            (not a) = b => (not a) == b
            x = 1 or y <> 2 => x == 1 or y != 2
            - (a + b) * 2.0 => -(a + b) * 2.0
            - -x => --x
            (x in (1)) = true => (x in (1)) == true
            k in params.kinds => k in (params.kinds)
            (a + 1) is not null => a + 1 is not null
            (x is null) + 1 => (x is null) + 1
            label == "it's" => label == "it's"
            f( a ,b, ) => f(a, b)
            100000000000000000000.0 + 0.1 => 100000000000000000000.0 + 0.1
        "#;
        for (src, want) in table(cases) {
            let x = parse(src).unwrap();
            assert_eq!(x.to_string(), want, "{src}");
            assert_round_trip(src, &x);
        }
        for src in [
            "care_type == 'IN' and provider_kind in ('01','11','21','28','29') and last_days(end_date, params.discharge_days)",
            "not not x not in (1, 2.5, null, true, 'a', \"b'\") or y is null and -(-z) < 3",
            "(a = b) = (c < d) or date('2026-03-27') <= R and points * 2 + 10 - -3 / (4 * x)",
        ] {
            assert_round_trip(src, &parse(src).unwrap());
        }
    }

    #[test]
    fn deep_input_is_an_error_not_a_crash() {
        let nest =
            |open: &str, n: usize, close: &str| format!("{}a{}", open.repeat(n), close.repeat(n));
        let most = MAX_DEPTH - 1;
        for ok in [
            nest("(", most, ")"),
            nest("f(", most, ")"),
            nest("x in (", most, ")"),
            nest("not ", most, ""),
        ] {
            assert_round_trip(&ok, &parse(&ok).unwrap());
        }
        parse(&vec!["a"; MAX_DEPTH].join(" + ")).unwrap();
        for bad in [
            nest("(", MAX_DEPTH, ")"),
            nest("(", 100_000, ")"),
            nest("f(", 100_000, ""),
            nest("not ", 100_000, ""),
            nest("-", 100_000, ""),
            nest("x in (", 100_000, ""),
            nest("a or b and c = d + e * f(", 100_000, ""),
            vec!["1"; 100_000].join(" + "),
            vec!["a"; 100_000].join(" or "),
        ] {
            let er = parse(&bad).unwrap_err();
            assert!(er.message.contains("nested too deeply"), "{}", er.message);
        }
    }

    #[test]
    fn no_panic_on_noise() {
        // Tokens and stray characters, separated by `~`.
        let pieces = r#"a~params.x~b.c.d~f(~(~)~,~ and ~ or ~not ~ in ~ is ~null~true~1~2.5~'s'~"t"~'~"~'홍'~가~==~=~!=~<>~<~<=~>~>=~+~-~*~/~&~&&~|~!~;~#~.~ ~ ~AND~；~1.~x1~99999999999999999999"#;
        let pieces: Vec<&str> = pieces.split('~').chain(["\n"]).collect();
        let mut state: u64 = 0x2545_F491_4F6C_DD1D;
        let mut next = || {
            state = state
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            (state >> 33) as usize
        };
        let mut parsed = 0;
        for _ in 0..20_000 {
            let src: String = (0..next() % 12 + 1)
                .map(|_| pieces[next() % pieces.len()])
                .collect();
            match parse(&src) {
                Ok(x) => {
                    parsed += 1;
                    x.walk(&mut |n| assert_span_ok(&src, n.span));
                    assert_round_trip(&src, &x);
                }
                Err(er) => assert_span_ok(&src, er.span),
            }
        }
        assert!(parsed > 200, "only {parsed} of the inputs parsed");
    }
}
