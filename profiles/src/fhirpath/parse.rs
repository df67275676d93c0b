//! FHIRPath text to a tree, for the subset the R4 base invariants are written in; anything
//! outside it is refused at compile time, so no invariant is skipped unnoticed.

use regex::Regex;

use super::decimal::Decimal;

/// A compiled expression.
#[derive(Debug)]
pub(crate) enum Expr {
    This,
    Var(Var),
    Str(String),
    Num(Decimal),
    /// A member of the focus (`contained`), or of the item before the dot.
    Member(Option<Box<Expr>>, String),
    Call(Option<Box<Expr>>, Func),
    Bin(Op, Box<Expr>, Box<Expr>),
}

/// The environment variables the invariants use.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Var {
    Resource,
    RootResource,
    /// The element the invariant is evaluated at.
    Context,
    Ucum,
}

/// Binary operators, by precedence group.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Op {
    Plus,
    Concat,
    Union,
    Lt,
    Gt,
    Le,
    Ge,
    Eq,
    Ne,
    In,
    /// `collection contains item`: `in` with its sides swapped.
    Has,
    And,
    Or,
    Xor,
    Implies,
}

/// The functions the invariants use, with their compiled arguments.
#[derive(Debug)]
pub(crate) enum Func {
    Exists(Option<Box<Expr>>),
    Empty,
    Not,
    HasValue,
    Count,
    First,
    Children,
    Descendants,
    Where(Box<Expr>),
    Select(Box<Expr>),
    All(Box<Expr>),
    IsDistinct,
    AllFalse,
    Intersect(Box<Expr>),
    /// `combine(other)`: both collections, duplicates kept.
    Combine(Box<Expr>),
    /// Every item but the first.
    Tail,
    /// `iif(criterion, then, else?)`, each evaluated with the function's input as focus.
    Iif(Box<Expr>, Box<Expr>, Option<Box<Expr>>),
    /// `resolve()`: the resource a reference points to, when it is in the resource itself
    /// (a contained resource or a Bundle entry); nothing otherwise.
    Resolve,
    /// `replaceMatches(regex, substitution)` with literal arguments.
    ReplaceMatches(Box<Regex>, String),
    StartsWith(Box<Expr>),
    Contains(Box<Expr>),
    Substring(Box<Expr>, Option<Box<Expr>>),
    Matches(Box<Regex>),
    ToString,
    ToInteger,
    /// `trace(name, ...)` passes its input through.
    Trace,
    /// `is(T)` for a resource type, or a string-valued primitive type.
    Is(TypeName),
    As(TypeName),
    /// `htmlChecks()`: txt-1/txt-2 have a dedicated checker (`validation::narrative`).
    HtmlChecks,
}

/// A type named in `is`/`as`/`ofType`.
#[derive(Debug)]
pub(crate) enum TypeName {
    /// A resource or complex datatype (`Composition`, `Quantity`): a resource is matched on
    /// `resourceType`, a choice element's value on its JSON name.
    Complex(String),
    /// A string-valued primitive (`uri`, `canonical`...): JSON strings.
    StringPrimitive(String),
    /// FHIR `boolean` or FHIRPath `Boolean`: JSON booleans.
    Boolean,
    /// FHIR `decimal`/`integer` or their FHIRPath types: JSON numbers (integers for `integer`).
    Number {
        /// Whether only whole numbers are of the type.
        integer: bool,
    },
}

impl TypeName {
    /// Whether a choice element's type, as its JSON name spells it (`Quantity`, `Boolean`,
    /// `DateTime`), is this type.
    pub(crate) fn is_named(&self, tag: &str) -> bool {
        match self {
            TypeName::Complex(name) => name == tag,
            TypeName::StringPrimitive(name) => {
                let mut chars = name.chars();
                chars.next().is_some_and(|c| {
                    tag.strip_prefix(c.to_ascii_uppercase()) == Some(chars.as_str())
                })
            }
            TypeName::Boolean => tag == "Boolean",
            TypeName::Number { integer: false } => tag == "Decimal",
            TypeName::Number { integer: true } => tag == "Integer",
        }
    }
}

/// Why an expression is not in the supported subset.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("at {at}: {message}")]
pub(crate) struct CompileError {
    at: usize,
    message: String,
}

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Ident(String),
    Str(String),
    Num(Decimal),
    Var(String),
    This,
    Sym(&'static str),
}

fn lex(text: &str) -> Result<Vec<(usize, Tok)>, CompileError> {
    let b = text.as_bytes();
    let mut i = 0;
    let mut out = Vec::new();
    let err = |at, m: &str| CompileError {
        at,
        message: m.to_owned(),
    };
    while i < b.len() {
        let c = b[i];
        let start = i;
        if c.is_ascii_whitespace() {
            i += 1;
        } else if c == b'\'' {
            let mut s = String::new();
            i += 1;
            loop {
                match b.get(i) {
                    None => return Err(err(start, "unterminated string")),
                    Some(b'\'') => break,
                    Some(b'\\') => {
                        let e = b.get(i + 1).ok_or_else(|| err(i, "bad escape"))?;
                        s.push(match e {
                            b'n' => '\n',
                            b't' => '\t',
                            other => char::from(*other),
                        });
                        i += 2;
                    }
                    Some(_) => {
                        let ch = text[i..].chars().next().ok_or_else(|| err(i, "bad text"))?;
                        s.push(ch);
                        i += ch.len_utf8();
                    }
                }
            }
            i += 1;
            out.push((start, Tok::Str(s)));
        } else if c == b'`' {
            let end = text[i + 1..]
                .find('`')
                .ok_or_else(|| err(start, "unterminated `name`"))?;
            out.push((start, Tok::Ident(text[i + 1..i + 1 + end].to_owned())));
            i += end + 2;
        } else if c.is_ascii_digit() {
            while i < b.len() && (b[i].is_ascii_digit() || b[i] == b'.') {
                i += 1;
            }
            let n = Decimal::parse(&text[start..i]).ok_or_else(|| err(start, "bad number"))?;
            out.push((start, Tok::Num(n)));
        } else if c.is_ascii_alphabetic() || c == b'_' || c == b'%' || c == b'$' {
            i += 1;
            while i < b.len() && (b[i].is_ascii_alphanumeric() || b[i] == b'_') {
                i += 1;
            }
            let word = &text[start..i];
            out.push((
                start,
                match c {
                    b'%' => Tok::Var(word[1..].to_owned()),
                    b'$' if word == "$this" => Tok::This,
                    b'$' => return Err(err(start, "unknown $ variable")),
                    _ => Tok::Ident(word.to_owned()),
                },
            ));
        } else {
            let two = text.get(i..i + 2).unwrap_or("");
            let sym: &'static str = match two {
                "<=" => "<=",
                ">=" => ">=",
                "!=" => "!=",
                _ => match c {
                    b'.' => ".",
                    b'(' => "(",
                    b')' => ")",
                    b',' => ",",
                    b'+' => "+",
                    b'&' => "&",
                    b'|' => "|",
                    b'<' => "<",
                    b'>' => ">",
                    b'=' => "=",
                    _ => return Err(err(start, "unexpected character")),
                },
            };
            i += sym.len();
            out.push((start, Tok::Sym(sym)));
        }
    }
    Ok(out)
}

/// Compiles one expression.
pub(crate) fn compile(text: &str) -> Result<Expr, CompileError> {
    let toks = lex(text)?;
    let mut p = Parser { toks, pos: 0 };
    let e = p.expr(0)?;
    if p.pos != p.toks.len() {
        return Err(p.error("unexpected text after the expression"));
    }
    Ok(e)
}

struct Parser {
    toks: Vec<(usize, Tok)>,
    pos: usize,
}

fn binary(tok: &Tok) -> Option<(Op, u8)> {
    Some(match tok {
        Tok::Sym("+") => (Op::Plus, 8),
        Tok::Sym("&") => (Op::Concat, 8),
        Tok::Sym("|") => (Op::Union, 6),
        Tok::Sym("<") => (Op::Lt, 5),
        Tok::Sym(">") => (Op::Gt, 5),
        Tok::Sym("<=") => (Op::Le, 5),
        Tok::Sym(">=") => (Op::Ge, 5),
        Tok::Sym("=") => (Op::Eq, 4),
        Tok::Sym("!=") => (Op::Ne, 4),
        Tok::Ident(w) if w == "in" => (Op::In, 3),
        Tok::Ident(w) if w == "contains" => (Op::Has, 3),
        Tok::Ident(w) if w == "and" => (Op::And, 2),
        Tok::Ident(w) if w == "or" => (Op::Or, 1),
        Tok::Ident(w) if w == "xor" => (Op::Xor, 1),
        Tok::Ident(w) if w == "implies" => (Op::Implies, 0),
        _ => return None,
    })
}

impl Parser {
    fn error(&self, message: &str) -> CompileError {
        CompileError {
            at: self.toks.get(self.pos).map_or(usize::MAX, |t| t.0),
            message: message.to_owned(),
        }
    }

    fn peek(&self) -> Option<&Tok> {
        self.toks.get(self.pos).map(|t| &t.1)
    }

    fn eat(&mut self, sym: &str) -> bool {
        if matches!(self.peek(), Some(Tok::Sym(s)) if *s == sym) {
            self.pos += 1;
            true
        } else {
            false
        }
    }

    fn expect(&mut self, sym: &str) -> Result<(), CompileError> {
        if self.eat(sym) {
            Ok(())
        } else {
            Err(self.error(&format!("expected {sym}")))
        }
    }

    fn expr(&mut self, min: u8) -> Result<Expr, CompileError> {
        let mut left = self.postfix()?;
        loop {
            // `x is T` and `x as T` bind tighter than `|` and looser than `+` (FHIRPath 5.10).
            if min <= TYPE_PRECEDENCE
                && let Some(Tok::Ident(word)) = self.peek()
                && (word == "is" || word == "as")
                && matches!(self.toks.get(self.pos + 1), Some((_, Tok::Ident(_))))
            {
                let is = word == "is";
                self.pos += 1;
                let ty = self.type_specifier()?;
                let func = if is { Func::Is(ty) } else { Func::As(ty) };
                left = Expr::Call(Some(Box::new(left)), func);
                continue;
            }
            let Some((op, prec)) = self.peek().and_then(binary) else {
                break;
            };
            if prec < min {
                break;
            }
            self.pos += 1;
            let right = self.expr(prec + 1)?;
            left = Expr::Bin(op, Box::new(left), Box::new(right));
        }
        Ok(left)
    }

    /// A type name after `is`/`as`, optionally qualified (`System.Boolean`, `FHIR.uri`).
    fn type_specifier(&mut self) -> Result<TypeName, CompileError> {
        let Some(Tok::Ident(mut name)) = self.peek().cloned() else {
            return Err(self.error("expected a type name"));
        };
        self.pos += 1;
        if (name == "System" || name == "FHIR") && self.eat(".") {
            match self.peek().cloned() {
                Some(Tok::Ident(inner)) => {
                    self.pos += 1;
                    name = inner;
                }
                _ => return Err(self.error("expected a type name after the namespace")),
            }
        }
        type_name(&name).ok_or_else(|| self.error(&format!("type {name} is not supported")))
    }

    fn postfix(&mut self) -> Result<Expr, CompileError> {
        let mut e = self.term(None)?;
        while self.eat(".") {
            e = self.term(Some(Box::new(e)))?;
        }
        Ok(e)
    }

    fn term(&mut self, on: Option<Box<Expr>>) -> Result<Expr, CompileError> {
        let tok = self
            .peek()
            .cloned()
            .ok_or_else(|| self.error("expression ends early"))?;
        self.pos += 1;
        match tok {
            Tok::Ident(name) => {
                if self.eat("(") {
                    let mut args = Vec::new();
                    if !self.eat(")") {
                        loop {
                            args.push(self.expr(0)?);
                            if self.eat(")") {
                                break;
                            }
                            self.expect(",")?;
                        }
                    }
                    Ok(Expr::Call(on, self.function(&name, args)?))
                } else {
                    Ok(Expr::Member(on, name))
                }
            }
            _ if on.is_some() => Err(self.error("expected a name after '.'")),
            Tok::Str(s) => Ok(Expr::Str(s)),
            Tok::Num(n) => Ok(Expr::Num(n)),
            Tok::This => Ok(Expr::This),
            Tok::Var(v) => Ok(Expr::Var(match v.as_str() {
                "resource" => Var::Resource,
                "rootResource" => Var::RootResource,
                "context" => Var::Context,
                "ucum" => Var::Ucum,
                _ => return Err(self.error("unknown %variable")),
            })),
            Tok::Sym("(") => {
                let e = self.expr(0)?;
                self.expect(")")?;
                Ok(e)
            }
            Tok::Sym(_) => Err(self.error("unexpected symbol")),
        }
    }

    fn function(&self, name: &str, args: Vec<Expr>) -> Result<Func, CompileError> {
        let mut args = args.into_iter().map(Box::new);
        let count = args.len();
        let mut one = |n: usize| -> Result<Box<Expr>, CompileError> {
            if count != n {
                return Err(self.error(&format!("{name}() takes {n} argument(s)")));
            }
            args.next()
                .ok_or_else(|| self.error(&format!("{name}() needs an argument")))
        };
        let none = |f: Func| {
            if count == 0 {
                Ok(f)
            } else {
                Err(self.error(&format!("{name}() takes no arguments")))
            }
        };
        match name {
            "exists" if count == 0 => Ok(Func::Exists(None)),
            "exists" => Ok(Func::Exists(Some(one(1)?))),
            "empty" => none(Func::Empty),
            "not" => none(Func::Not),
            "hasValue" => none(Func::HasValue),
            "count" => none(Func::Count),
            "first" => none(Func::First),
            "children" => none(Func::Children),
            "descendants" => none(Func::Descendants),
            "isDistinct" => none(Func::IsDistinct),
            "allFalse" => none(Func::AllFalse),
            "toString" => none(Func::ToString),
            "toInteger" => none(Func::ToInteger),
            "htmlChecks" => none(Func::HtmlChecks),
            "tail" => none(Func::Tail),
            "resolve" => none(Func::Resolve),
            "combine" => Ok(Func::Combine(one(1)?)),
            "iif" if count == 2 || count == 3 => {
                let criterion = args.next().ok_or_else(|| self.error("iif()"))?;
                let then = args.next().ok_or_else(|| self.error("iif()"))?;
                Ok(Func::Iif(criterion, then, args.next()))
            }
            "replaceMatches" if count == 2 => {
                let (Some(pattern), Some(substitution)) = (args.next(), args.next()) else {
                    return Err(self.error("replaceMatches() takes 2 arguments"));
                };
                match (*pattern, *substitution) {
                    (Expr::Str(pattern), Expr::Str(substitution)) => Regex::new(&pattern)
                        .map(|r| Func::ReplaceMatches(Box::new(r), substitution))
                        .map_err(|e| self.error(&format!("replaceMatches(): {e}"))),
                    _ => Err(self.error("replaceMatches() needs literal arguments")),
                }
            }
            "where" => Ok(Func::Where(one(1)?)),
            "select" => Ok(Func::Select(one(1)?)),
            "all" => Ok(Func::All(one(1)?)),
            "intersect" => Ok(Func::Intersect(one(1)?)),
            "startsWith" => Ok(Func::StartsWith(one(1)?)),
            "contains" => Ok(Func::Contains(one(1)?)),
            "substring" if count == 1 => Ok(Func::Substring(one(1)?, None)),
            "substring" if count == 2 => {
                let start = args.next().ok_or_else(|| self.error("substring()"))?;
                Ok(Func::Substring(start, args.next()))
            }
            "trace" if count >= 1 => Ok(Func::Trace),
            "matches" => match *one(1)? {
                // Not anchored: FHIRPath N1's matches() is true when the regex matches any part
                // of the string; patterns that mean the whole string say so with ^ and $.
                Expr::Str(pattern) => Regex::new(&pattern)
                    .map(|r| Func::Matches(Box::new(r)))
                    .map_err(|e| self.error(&format!("matches(): {e}"))),
                _ => Err(self.error("matches() needs a literal pattern")),
            },
            "is" | "as" | "ofType" => {
                let ty = match *one(1)? {
                    Expr::Member(None, t) => type_name(&t)
                        .ok_or_else(|| self.error(&format!("{name}({t}) is not supported")))?,
                    _ => return Err(self.error(&format!("{name}() needs a type name"))),
                };
                Ok(if name == "is" {
                    Func::Is(ty)
                } else {
                    Func::As(ty)
                })
            }
            _ => Err(self.error(&format!("{name}() is not supported"))),
        }
    }
}

/// How tightly `is`/`as` bind, between `+`/`&` (8) and `|` (6).
const TYPE_PRECEDENCE: u8 = 7;

fn type_name(t: &str) -> Option<TypeName> {
    match t {
        "uri" | "url" | "canonical" | "string" | "code" | "id" => {
            Some(TypeName::StringPrimitive(t.to_owned()))
        }
        "String" => Some(TypeName::StringPrimitive("string".to_owned())),
        "boolean" | "Boolean" => Some(TypeName::Boolean),
        "decimal" | "Decimal" => Some(TypeName::Number { integer: false }),
        "integer" | "Integer" => Some(TypeName::Number { integer: true }),
        _ if t.starts_with(|c: char| c.is_ascii_uppercase()) => {
            Some(TypeName::Complex(t.to_owned()))
        }
        _ => None,
    }
}
