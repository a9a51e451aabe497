//! Model formulas in the R/patsy notation, and the design they describe.
//!
//! A formula `y ~ x1 + C(g) + x1:x2 + log(x3) - 1` names a response and a list of *terms*; each
//! term is a set of *factors*. A factor is numeric (a column or an expression of columns:
//! `x1`, `log(x3)`, `I(x1 * x2)`) or categorical (`C(g)`: one indicator per level). The operators,
//! as in patsy:
//!
//! ```text
//! a + b      both terms            a - b     a without b's terms
//! a:b        the interaction       a * b     a + b + a:b
//! (a + b):c  distributes           - 1, + 0  no intercept (+ 1 puts it back)
//! [d ~ z1 + z2]   (also (d ~ z1 + z2), FCI's form)   endogenous d, excluded instruments z1, z2
//! ```
//!
//! Numeric expressions use `+ - * / **`, numbers, parentheses and the functions `log` (natural),
//! `log2`, `log10`, `exp`, `sqrt` and `abs` (also with numpy's `np.` prefix); inside a term,
//! `*` and `+` are formula operators, so arithmetic on columns goes inside `I(...)`. A column
//! whose name is not an identifier is written `Q("my column")`.
//!
//! The design follows patsy exactly, so that column names and order equal statsmodels': terms
//! are grouped by their set of numeric factors (the group without numeric factors, which holds
//! the intercept, first; then in order of appearance), sorted by degree within a group; and a
//! categorical factor is coded in full (an indicator per level) or reduced (treatment coding, the
//! first sorted level as reference) so that no term duplicates what earlier terms of its group
//! already span. Columns are named as patsy names them: `Intercept`, `x1`, `C(g)[T.b]`,
//! `x1:C(g)[b]`, `I(x1 * x2)`.
//!
//! Every column of such a design is a product of numeric factors times indicators of levels.
//! Within one combination of levels (a *cell*), each column is therefore either zero or one
//! product of numeric factors — which is what lets [`super::ols`] fit the model from one small
//! moment state per cell.

use crate::error::{Result, StatsError};
use crate::keyed::KeyValue;

/// A numeric expression inside a factor.
#[derive(Debug, Clone, PartialEq)]
pub enum Expr {
    /// A column, by name.
    Column(String),
    /// A number, as written.
    Number(String),
    /// Unary minus.
    Negate(Box<Expr>),
    /// `+ - * / **`.
    Binary(Operator, Box<Expr>, Box<Expr>),
    /// One of the known functions and its argument; `numpy` when written with `np.`.
    Call { function: Function, numpy: bool, arg: Box<Expr> },
    /// Parentheses as written (kept so that names show them).
    Group(Box<Expr>),
}

/// A binary arithmetic operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operator {
    Add,
    Subtract,
    Multiply,
    Divide,
    Power,
}

/// The functions a numeric factor may call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Function {
    /// Natural logarithm.
    Log,
    Log2,
    Log10,
    Exp,
    Sqrt,
    Abs,
}

const FUNCTIONS: [(&str, Function); 6] = [
    ("log", Function::Log),
    ("log2", Function::Log2),
    ("log10", Function::Log10),
    ("exp", Function::Exp),
    ("sqrt", Function::Sqrt),
    ("abs", Function::Abs),
];

impl Operator {
    fn symbol(self) -> &'static str {
        match self {
            Operator::Add => "+",
            Operator::Subtract => "-",
            Operator::Multiply => "*",
            Operator::Divide => "/",
            Operator::Power => "**",
        }
    }
}

impl Function {
    /// The name as written in a formula (numpy's).
    pub fn name(self) -> &'static str {
        FUNCTIONS.iter().find(|(_, f)| *f == self).map(|(n, _)| *n).expect("every function is listed")
    }
}

impl Expr {
    /// Python-style text with patsy's spacing (`x1 * x2`, `log(x3)`), used in column names.
    fn code(&self) -> String {
        match self {
            Expr::Column(c) if is_identifier(c) => c.clone(),
            Expr::Column(c) => format!("Q({c:?})"),
            Expr::Number(n) => n.clone(),
            Expr::Negate(e) => format!("-{}", e.code()),
            Expr::Binary(op, a, b) => format!("{} {} {}", a.code(), op.symbol(), b.code()),
            Expr::Call { function, numpy, arg } => {
                format!("{}{}({})", if *numpy { "np." } else { "" }, function.name(), arg.code())
            }
            Expr::Group(e) => format!("({})", e.code()),
        }
    }
}

/// Whether a column name can be written bare (otherwise `Q("...")`).
fn is_identifier(s: &str) -> bool {
    let mut chars = s.chars();
    chars.next().is_some_and(|c| c.is_alphabetic() || c == '_') && chars.all(|c| c.is_alphanumeric() || c == '_')
}

/// One factor of a formula.
#[derive(Debug, Clone, PartialEq)]
pub struct Factor {
    /// Its name in column names, as patsy writes it (`x1`, `log(x3)`, `C(g)`, `I(x1 * x2)`).
    pub code: String,
    /// The expression evaluated per row: the value (numeric) or the level (categorical).
    pub expr: Expr,
    /// Coded by indicators of its levels (`C(...)`).
    pub categorical: bool,
}

/// A parsed formula. Terms exclude the intercept, which is a flag.
#[derive(Debug, Clone, PartialEq)]
pub struct Formula {
    pub response: Factor,
    pub intercept: bool,
    /// The distinct right-hand-side factors, in order of appearance.
    pub factors: Vec<Factor>,
    /// Right-hand-side terms in written order, each a list of factor indices (no duplicates).
    pub terms: Vec<Vec<usize>>,
    /// Endogenous regressors of an instrumental-variables block (numeric terms).
    pub endogenous: Vec<Vec<usize>>,
    /// Excluded instruments of the block (numeric terms).
    pub instruments: Vec<Vec<usize>>,
}

fn error(position: usize, message: impl Into<String>) -> StatsError {
    StatsError::InvalidFormula { position, message: message.into() }
}

// --- tokens ------------------------------------------------------------------------------------

#[derive(Debug, Clone, PartialEq)]
enum Token {
    Name(String),
    Number(String),
    Text(String),
    Symbol(&'static str),
}

fn tokenize(text: &str) -> Result<Vec<(usize, Token)>> {
    const SYMBOLS: [&str; 13] = ["**", "~", "+", "-", "*", "/", ":", "(", ")", "[", "]", ",", "."];
    let chars: Vec<(usize, char)> = text.char_indices().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let (pos, c) = chars[i];
        if c.is_whitespace() {
            i += 1;
        } else if c.is_alphabetic() || c == '_' {
            let start = i;
            while i < chars.len() && (chars[i].1.is_alphanumeric() || chars[i].1 == '_') {
                i += 1;
            }
            out.push((pos, Token::Name(chars[start..i].iter().map(|(_, c)| c).collect())));
        } else if c.is_ascii_digit() || (c == '.' && chars.get(i + 1).is_some_and(|(_, d)| d.is_ascii_digit())) {
            let start = i;
            while i < chars.len() && (chars[i].1.is_ascii_digit() || chars[i].1 == '.') {
                i += 1;
            }
            if i < chars.len() && matches!(chars[i].1, 'e' | 'E') {
                let mut j = i + 1;
                if j < chars.len() && matches!(chars[j].1, '+' | '-') {
                    j += 1;
                }
                if j < chars.len() && chars[j].1.is_ascii_digit() {
                    i = j;
                    while i < chars.len() && chars[i].1.is_ascii_digit() {
                        i += 1;
                    }
                }
            }
            let number: String = chars[start..i].iter().map(|(_, c)| c).collect();
            if number.parse::<f64>().is_err() {
                return Err(error(pos, format!("'{number}' is not a number")));
            }
            out.push((pos, Token::Number(number)));
        } else if c == '"' || c == '\'' {
            let start = i;
            i += 1;
            let mut s = String::new();
            while i < chars.len() && chars[i].1 != c {
                s.push(chars[i].1);
                i += 1;
            }
            if i == chars.len() {
                return Err(error(chars[start].0, "unterminated quoted name"));
            }
            i += 1;
            out.push((pos, Token::Text(s)));
        } else {
            let rest = &text[pos..];
            match SYMBOLS.iter().find(|s| rest.starts_with(**s)) {
                Some(s) => {
                    out.push((pos, Token::Symbol(s)));
                    i += s.chars().count();
                }
                None => return Err(error(pos, format!("unexpected character '{c}'"))),
            }
        }
    }
    Ok(out)
}

// --- parsing -----------------------------------------------------------------------------------

/// A formula-level value: a list of terms (factor lists) and the intercept's state.
#[derive(Debug, Clone, Default)]
struct Terms {
    terms: Vec<Vec<usize>>,
    /// `Some(true)` for `1`, `Some(false)` for `0` / `-1`, `None` when not mentioned.
    intercept: Option<bool>,
}

struct Parser<'a> {
    tokens: &'a [(usize, Token)],
    at: usize,
    end: usize,
    factors: Vec<Factor>,
    /// An instrumental-variables block `[endogenous ~ instruments]`, if seen.
    iv: Option<(Vec<Vec<usize>>, Vec<Vec<usize>>)>,
}

impl Parser<'_> {
    fn peek(&self) -> Option<&Token> {
        self.tokens.get(self.at).map(|(_, t)| t)
    }

    fn position(&self) -> usize {
        self.tokens.get(self.at).map_or(self.end, |(p, _)| *p)
    }

    fn eat(&mut self, symbol: &str) -> bool {
        if matches!(self.peek(), Some(Token::Symbol(s)) if *s == symbol) {
            self.at += 1;
            true
        } else {
            false
        }
    }

    fn expect(&mut self, symbol: &str, what: &str) -> Result<()> {
        if self.eat(symbol) {
            Ok(())
        } else {
            let found = match self.peek() {
                None => "the end of the formula".to_owned(),
                Some(t) => format!("'{}'", token_text(t)),
            };
            Err(error(self.position(), format!("expected {what}, found {found}")))
        }
    }

    /// `sum := product (('+' | '-') product)*`
    fn sum(&mut self) -> Result<Terms> {
        let mut acc = self.product()?;
        loop {
            if self.eat("+") {
                let rhs = self.product()?;
                add_terms(&mut acc, rhs);
            } else if self.eat("-") {
                let rhs = self.product()?;
                for t in &rhs.terms {
                    acc.terms.retain(|a| !same_term(a, t));
                }
                match rhs.intercept {
                    Some(true) => acc.intercept = Some(false),
                    Some(false) => acc.intercept = Some(true),
                    None => {}
                }
            } else {
                return Ok(acc);
            }
        }
    }

    /// `product := interaction ('*' interaction)*`
    fn product(&mut self) -> Result<Terms> {
        let mut acc = self.interaction()?;
        while self.eat("*") {
            let position = self.position();
            let rhs = self.interaction()?;
            no_intercept_inside(&acc, &rhs, position, "*")?;
            let cross = interact(&acc, &rhs);
            add_terms(&mut acc, rhs);
            add_terms(&mut acc, cross);
        }
        Ok(acc)
    }

    /// `interaction := atom (':' atom)*`
    fn interaction(&mut self) -> Result<Terms> {
        let mut acc = self.atom()?;
        while self.eat(":") {
            let position = self.position();
            let rhs = self.atom()?;
            no_intercept_inside(&acc, &rhs, position, ":")?;
            acc = interact(&acc, &rhs);
        }
        Ok(acc)
    }

    /// `atom := '(' sum ')' | '0' | '1' | '-' atom (only `-1`) | factor`
    fn atom(&mut self) -> Result<Terms> {
        let position = self.position();
        match self.peek().cloned() {
            Some(Token::Symbol("(")) => {
                self.at += 1;
                let inner = self.sum()?;
                if self.eat("~") {
                    // FCI's form of an instrumental-variables block: (endogenous ~ instruments).
                    return self.iv_block(position, inner, ")");
                }
                self.expect(")", "')'")?;
                Ok(inner)
            }
            Some(Token::Symbol("[")) => {
                self.at += 1;
                let inner = self.sum()?;
                self.expect("~", "'~' between the endogenous regressors and their instruments")?;
                self.iv_block(position, inner, "]")
            }
            Some(Token::Number(n)) => {
                self.at += 1;
                match n.parse::<f64>() {
                    Ok(x) if x == 0.0 => Ok(Terms { terms: vec![], intercept: Some(false) }),
                    Ok(x) if x == 1.0 => Ok(Terms { terms: vec![], intercept: Some(true) }),
                    _ => Err(error(
                        position,
                        format!(
                            "the number {n} cannot be a term; only 0 and 1 (the intercept) can, and arithmetic goes inside I(...)"
                        ),
                    )),
                }
            }
            Some(Token::Name(_) | Token::Text(_)) => {
                let factor = self.factor()?;
                let id = match self.factors.iter().position(|f| f.code == factor.code) {
                    Some(id) => id,
                    None => {
                        self.factors.push(factor);
                        self.factors.len() - 1
                    }
                };
                Ok(Terms { terms: vec![vec![id]], intercept: None })
            }
            Some(Token::Symbol("-")) => {
                // `-1` at the start of a sum, as in `y ~ -1 + x`.
                self.at += 1;
                let inner = self.atom()?;
                if !inner.terms.is_empty() || inner.intercept.is_none() {
                    return Err(error(position, "a leading '-' can only remove the intercept (-1)"));
                }
                Ok(Terms { terms: vec![], intercept: inner.intercept.map(|i| !i) })
            }
            Some(t) => Err(error(position, format!("expected a term, found '{}'", token_text(&t)))),
            None => Err(error(position, "expected a term, found the end of the formula")),
        }
    }

    /// The rest of `[endogenous ~ instruments]` after the `~`: numeric terms on both sides.
    fn iv_block(&mut self, position: usize, endogenous: Terms, close: &str) -> Result<Terms> {
        let instruments = self.sum()?;
        self.expect(close, &format!("'{close}' closing the instrumental-variables block"))?;
        if self.iv.is_some() {
            return Err(error(position, "only one instrumental-variables block [endogenous ~ instruments] is allowed"));
        }
        for side in [&endogenous, &instruments] {
            if side.intercept.is_some() || side.terms.is_empty() {
                return Err(error(
                    position,
                    "each side of [endogenous ~ instruments] needs one or more terms, without 0 or 1",
                ));
            }
            if side.terms.iter().flatten().any(|&f| self.factors[f].categorical) {
                return Err(error(
                    position,
                    "C(...) is not supported inside [endogenous ~ instruments]; use numeric terms",
                ));
            }
        }
        self.iv = Some((endogenous.terms, instruments.terms));
        Ok(Terms::default())
    }

    /// A factor: `C(expr)`, `I(expr)`, or a numeric expression without `+ - * /` at its top.
    fn factor(&mut self) -> Result<Factor> {
        let position = self.position();
        if let Some(Token::Name(name)) = self.peek().cloned()
            && matches!(self.tokens.get(self.at + 1), Some((_, Token::Symbol("("))))
        {
            match name.as_str() {
                "C" => {
                    self.at += 2;
                    let expr = self.expr()?;
                    if self.eat(",") {
                        return Err(error(
                            self.position(),
                            "C(...) takes one column; the reference level is the first sorted level (treatment coding)",
                        ));
                    }
                    self.expect(")", "')' closing C(")?;
                    return Ok(Factor { code: format!("C({})", expr.code()), expr, categorical: true });
                }
                "I" => {
                    self.at += 2;
                    let expr = self.expr()?;
                    self.expect(")", "')' closing I(")?;
                    return Ok(Factor { code: format!("I({})", expr.code()), expr, categorical: false });
                }
                _ => {}
            }
        }
        let expr = self.primary()?;
        if matches!(expr, Expr::Number(_)) {
            return Err(error(position, "a number cannot be a term; write I(...) for arithmetic"));
        }
        Ok(Factor { code: expr.code(), expr, categorical: false })
    }

    /// A numeric expression with arithmetic: `additive := multiplicative (('+'|'-') multiplicative)*`.
    fn expr(&mut self) -> Result<Expr> {
        let mut acc = self.multiplicative()?;
        loop {
            let op = if self.eat("+") {
                Operator::Add
            } else if self.eat("-") {
                Operator::Subtract
            } else {
                return Ok(acc);
            };
            let rhs = self.multiplicative()?;
            acc = Expr::Binary(op, Box::new(acc), Box::new(rhs));
        }
    }

    fn multiplicative(&mut self) -> Result<Expr> {
        let mut acc = self.unary()?;
        loop {
            let op = if self.eat("*") {
                Operator::Multiply
            } else if self.eat("/") {
                Operator::Divide
            } else {
                return Ok(acc);
            };
            let rhs = self.unary()?;
            acc = Expr::Binary(op, Box::new(acc), Box::new(rhs));
        }
    }

    fn unary(&mut self) -> Result<Expr> {
        if self.eat("-") {
            return Ok(Expr::Negate(Box::new(self.unary()?)));
        }
        if self.eat("+") {
            return self.unary();
        }
        let base = self.primary()?;
        if self.eat("**") {
            // Right-associative and tighter than unary minus on its left, as in Python.
            let exponent = self.unary()?;
            return Ok(Expr::Binary(Operator::Power, Box::new(base), Box::new(exponent)));
        }
        Ok(base)
    }

    fn primary(&mut self) -> Result<Expr> {
        let position = self.position();
        match self.peek().cloned() {
            Some(Token::Number(n)) => {
                self.at += 1;
                Ok(Expr::Number(n))
            }
            Some(Token::Symbol("(")) => {
                self.at += 1;
                let e = self.expr()?;
                self.expect(")", "')'")?;
                Ok(Expr::Group(Box::new(e)))
            }
            Some(Token::Name(name)) => {
                self.at += 1;
                // `np.log(...)`: numpy's prefix is accepted.
                let numpy = name == "np" && self.eat(".");
                let name = if numpy {
                    match self.peek().cloned() {
                        Some(Token::Name(f)) => {
                            self.at += 1;
                            f
                        }
                        _ => return Err(error(self.position(), "expected a function name after 'np.'")),
                    }
                } else {
                    name
                };
                if !self.eat("(") {
                    return Ok(Expr::Column(name));
                }
                if name == "Q" {
                    let column = match self.peek().cloned() {
                        Some(Token::Text(s)) => s,
                        _ => {
                            return Err(error(
                                self.position(),
                                "Q(...) takes a quoted column name, e.g. Q(\"my column\")",
                            ));
                        }
                    };
                    self.at += 1;
                    self.expect(")", "')' closing Q(")?;
                    return Ok(Expr::Column(column));
                }
                let Some(&(_, function)) = FUNCTIONS.iter().find(|(n, _)| *n == name) else {
                    let known: Vec<&str> = FUNCTIONS.iter().map(|(n, _)| *n).collect();
                    let hint = if name == "C" || name == "I" {
                        format!("{name}(...) cannot be nested inside an expression")
                    } else {
                        format!("known functions: {}, and C(...), I(...), Q(...)", known.join(", "))
                    };
                    return Err(error(position, format!("unknown function '{name}'; {hint}")));
                };
                let arg = self.expr()?;
                if self.eat(",") {
                    return Err(error(self.position(), format!("{name}(...) takes one argument")));
                }
                self.expect(")", &format!("')' closing {name}("))?;
                Ok(Expr::Call { function, numpy, arg: Box::new(arg) })
            }
            Some(Token::Text(s)) => Err(error(position, format!("a quoted name must be written Q(\"{s}\")"))),
            Some(t) => Err(error(position, format!("expected a column or a number, found '{}'", token_text(&t)))),
            None => Err(error(position, "expected a column or a number, found the end of the formula")),
        }
    }
}

fn token_text(t: &Token) -> String {
    match t {
        Token::Name(s) | Token::Number(s) => s.clone(),
        Token::Text(s) => format!("\"{s}\""),
        Token::Symbol(s) => (*s).to_owned(),
    }
}

fn same_term(a: &[usize], b: &[usize]) -> bool {
    a.len() == b.len() && a.iter().all(|f| b.contains(f))
}

fn add_terms(acc: &mut Terms, rhs: Terms) {
    for t in rhs.terms {
        if !acc.terms.iter().any(|a| same_term(a, &t)) {
            acc.terms.push(t);
        }
    }
    if rhs.intercept.is_some() {
        acc.intercept = rhs.intercept;
    }
}

fn interact(a: &Terms, b: &Terms) -> Terms {
    let mut out = Terms::default();
    for x in &a.terms {
        for y in &b.terms {
            let mut t = x.clone();
            t.extend(y.iter().filter(|f| !x.contains(f)));
            if !out.terms.iter().any(|o| same_term(o, &t)) {
                out.terms.push(t);
            }
        }
    }
    out
}

fn no_intercept_inside(a: &Terms, b: &Terms, position: usize, op: &str) -> Result<()> {
    if a.intercept.is_some() || b.intercept.is_some() {
        return Err(error(position, format!("0 and 1 cannot be used with '{op}'")));
    }
    Ok(())
}

impl Formula {
    /// Parses `response ~ terms`. Errors carry the character position of the problem.
    pub fn parse(text: &str) -> Result<Formula> {
        let tokens = tokenize(text)?;
        let Some(tilde) = tokens.iter().position(|(_, t)| *t == Token::Symbol("~")) else {
            return Err(error(0, "a formula needs a response and '~', e.g. 'y ~ x1 + x2'"));
        };
        let mut lhs = Parser { tokens: &tokens[..tilde], at: 0, end: tokens[tilde].0, factors: Vec::new(), iv: None };
        if lhs.peek().is_none() {
            return Err(error(0, "the response is missing before '~'"));
        }
        let response = lhs.factor()?;
        if lhs.at < lhs.tokens.len() {
            return Err(error(
                lhs.position(),
                "the response must be one column or expression; use I(...) for arithmetic",
            ));
        }
        if response.categorical {
            return Err(error(0, "the response must be numeric, not C(...)"));
        }
        let mut rhs = Parser { tokens: &tokens[tilde + 1..], at: 0, end: text.len(), factors: Vec::new(), iv: None };
        if rhs.peek().is_none() {
            return Err(error(text.len(), "the right-hand side is empty; write 1 for an intercept-only model"));
        }
        let terms = rhs.sum()?;
        if rhs.at < rhs.tokens.len() {
            let (p, t) = &rhs.tokens[rhs.at];
            let msg = if *t == Token::Symbol("~") {
                "only one '~' is allowed".to_owned()
            } else {
                format!("unexpected '{}'", token_text(t))
            };
            return Err(error(*p, msg));
        }
        let (endogenous, instruments) = rhs.iv.take().unwrap_or_default();
        let formula = Formula {
            response,
            intercept: terms.intercept.unwrap_or(true),
            factors: rhs.factors,
            terms: terms.terms,
            endogenous,
            instruments,
        };
        if formula.terms.is_empty() && !formula.intercept {
            return Err(error(text.len(), "the model has no terms"));
        }
        Ok(formula)
    }

    /// The design: value columns, key columns and patsy's terms and codings.
    pub fn design(&self) -> Design {
        let numeric_of = |t: &[usize]| -> Vec<usize> {
            let mut n: Vec<usize> = t.iter().copied().filter(|&f| !self.factors[f].categorical).collect();
            n.sort_unstable();
            n
        };
        let keys: Vec<usize> = (0..self.factors.len()).filter(|&f| self.factors[f].categorical).collect();
        // Buckets by numeric factor set: the empty set first, then in order of appearance.
        let mut all_terms: Vec<Vec<usize>> = Vec::new();
        if self.intercept {
            all_terms.push(Vec::new());
        }
        all_terms.extend(self.terms.iter().cloned());
        let mut buckets: Vec<(Vec<usize>, Vec<Vec<usize>>)> = Vec::new();
        for t in all_terms {
            let n = numeric_of(&t);
            match buckets.iter_mut().find(|(b, _)| *b == n) {
                Some((_, ts)) => ts.push(t),
                None => buckets.push((n, vec![t])),
            }
        }
        if let Some(i) = buckets.iter().position(|(b, _)| b.is_empty()) {
            let b = buckets.remove(i);
            buckets.insert(0, b);
        }
        let mut values: Vec<Vec<usize>> = Vec::new();
        let mut terms = Vec::new();
        for (numeric, mut bucket_terms) in buckets {
            bucket_terms.sort_by_key(Vec::len);
            let value = if numeric.is_empty() {
                None
            } else {
                Some(values.iter().position(|v| *v == numeric).unwrap_or_else(|| {
                    values.push(numeric.clone());
                    values.len() - 1
                }))
            };
            let mut used: Vec<Vec<usize>> = Vec::new();
            for t in bucket_terms {
                let categorical: Vec<usize> = t.iter().copied().filter(|&f| self.factors[f].categorical).collect();
                let subterms = pick_codings(&categorical, &mut used);
                let parts = subterms
                    .into_iter()
                    .map(|coding| {
                        t.iter()
                            .filter_map(|&f| {
                                if !self.factors[f].categorical {
                                    Some(Part::Numeric(f))
                                } else {
                                    coding.iter().find(|(g, _)| *g == f).map(|&(_, full)| Part::Categorical {
                                        key: keys.iter().position(|&k| k == f).expect("categorical factors are keys"),
                                        full,
                                    })
                                }
                            })
                            .collect()
                    })
                    .collect();
                terms.push(DesignTerm { value, subterms: parts });
            }
        }
        // The instrumental-variables block's terms are products of numeric factors too.
        let mut value_of = |t: &Vec<usize>| -> usize {
            let n = numeric_of(t);
            values.iter().position(|v| *v == n).unwrap_or_else(|| {
                values.push(n);
                values.len() - 1
            })
        };
        let endogenous = self.endogenous.iter().map(&mut value_of).collect();
        let instruments = self.instruments.iter().map(&mut value_of).collect();
        Design { values, keys, terms, endogenous, instruments }
    }

    /// The name of a numeric term (`x1`, `x1:x2`).
    pub fn term_name(&self, term: &[usize]) -> String {
        term.iter().map(|&f| self.factors[f].code.as_str()).collect::<Vec<_>>().join(":")
    }
}

/// patsy's `pick_contrasts_for_term`: the subsets of the term's categorical factors not yet
/// spanned in its bucket, simplified so that a subterm absorbs a one-smaller one by coding the
/// extra factor in full. Each result lists `(factor, full)` pairs.
fn pick_codings(categorical: &[usize], used: &mut Vec<Vec<usize>>) -> Vec<Vec<(usize, bool)>> {
    // Subsets short before long, ties by the positions of their members.
    let n = categorical.len();
    let mut subsets: Vec<Vec<usize>> =
        (0..1usize << n).map(|mask| (0..n).filter(|i| mask >> i & 1 == 1).collect()).collect();
    subsets.sort();
    subsets.sort_by_key(Vec::len);
    let mut subterms: Vec<Vec<(usize, bool)>> = Vec::new();
    for s in subsets {
        let factors: Vec<usize> = s.iter().map(|&i| categorical[i]).collect();
        if !used.iter().any(|u| same_term(u, &factors)) {
            used.push(factors.clone());
            subterms.push(factors.into_iter().map(|f| (f, false)).collect());
        }
    }
    // Greedy simplification, left to right, as patsy does.
    'outer: loop {
        for short in 0..subterms.len() {
            for long in short + 1..subterms.len() {
                let (s, l) = (&subterms[short], &subterms[long]);
                if l.len() == s.len() + 1 && s.iter().all(|e| l.contains(e)) {
                    let extra = l.iter().find(|e| !s.contains(e)).expect("one more factor");
                    if extra.1 {
                        continue;
                    }
                    let mut merged = s.clone();
                    merged.push((extra.0, true));
                    subterms[long] = merged;
                    subterms.remove(short);
                    continue 'outer;
                }
            }
        }
        return subterms;
    }
}

/// A factor's role in one subterm.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Part {
    /// A numeric factor (index into [`Formula::factors`]).
    Numeric(usize),
    /// A categorical factor (index into [`Design::keys`]), coded in full or reduced.
    Categorical { key: usize, full: bool },
}

/// A term of the design: its numeric product and its subterms' codings.
#[derive(Debug, Clone, PartialEq)]
pub struct DesignTerm {
    /// The product of its numeric factors (index into [`Design::values`]), `None` for 1.
    pub value: Option<usize>,
    /// One list of parts per subterm, in the term's factor order.
    pub subterms: Vec<Vec<Part>>,
}

/// What a model needs evaluated per row, and how columns derive from it.
#[derive(Debug, Clone, PartialEq)]
pub struct Design {
    /// The distinct products of numeric factors the terms use (sorted factor indices).
    pub values: Vec<Vec<usize>>,
    /// The categorical factors (indices into [`Formula::factors`]), in key order.
    pub keys: Vec<usize>,
    /// The terms in patsy's order (the intercept first when present).
    pub terms: Vec<DesignTerm>,
    /// The value (index into [`Design::values`]) of each endogenous regressor, and of each
    /// excluded instrument, of an instrumental-variables block.
    pub endogenous: Vec<usize>,
    pub instruments: Vec<usize>,
}

/// One column of the design matrix: a product of numeric factors (or 1) times indicators.
#[derive(Debug, Clone, PartialEq)]
pub struct DesignColumn {
    pub name: String,
    /// Index into [`Design::values`], or `None` for a constant.
    pub value: Option<usize>,
    /// `(key, level index)` pairs that must all hold for the column to be non-zero.
    pub levels: Vec<(usize, usize)>,
}

/// A level as patsy prints it.
fn level_text(v: &KeyValue) -> String {
    v.to_string()
}

impl Design {
    /// The columns, given the sorted levels of each key.
    pub fn columns(&self, formula: &Formula, levels: &[Vec<KeyValue>]) -> Vec<DesignColumn> {
        let mut out = Vec::new();
        for term in &self.terms {
            for parts in &term.subterms {
                if parts.is_empty() {
                    out.push(DesignColumn { name: "Intercept".into(), value: term.value, levels: vec![] });
                    continue;
                }
                // Level choices per categorical part; the first part varies fastest.
                let choices: Vec<Vec<usize>> = parts
                    .iter()
                    .map(|p| match *p {
                        Part::Numeric(_) => vec![usize::MAX],
                        Part::Categorical { key, full } => (usize::from(!full)..levels[key].len()).collect(),
                    })
                    .collect();
                if choices.iter().any(Vec::is_empty) {
                    continue;
                }
                let mut index = vec![0usize; parts.len()];
                loop {
                    let mut names = Vec::with_capacity(parts.len());
                    let mut column_levels = Vec::new();
                    for (p, (&i, c)) in parts.iter().zip(index.iter().zip(&choices)) {
                        match *p {
                            Part::Numeric(f) => names.push(formula.factors[f].code.clone()),
                            Part::Categorical { key, full } => {
                                let level = c[i];
                                let code = &formula.factors[self.keys[key]].code;
                                let text = level_text(&levels[key][level]);
                                names.push(if full { format!("{code}[{text}]") } else { format!("{code}[T.{text}]") });
                                column_levels.push((key, level));
                            }
                        }
                    }
                    out.push(DesignColumn { name: names.join(":"), value: term.value, levels: column_levels });
                    // Advance, first part fastest.
                    let mut j = 0;
                    loop {
                        if j == index.len() {
                            break;
                        }
                        index[j] += 1;
                        if index[j] < choices[j].len() {
                            break;
                        }
                        index[j] = 0;
                        j += 1;
                    }
                    if j == index.len() {
                        break;
                    }
                }
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(formula: &str, levels: &[&[&str]]) -> Vec<String> {
        let f = Formula::parse(formula).unwrap();
        let levels: Vec<Vec<KeyValue>> =
            levels.iter().map(|ls| ls.iter().map(|l| KeyValue::Text((*l).to_owned())).collect()).collect();
        f.design().columns(&f, &levels).into_iter().map(|c| c.name).collect()
    }

    fn err(formula: &str) -> (usize, String) {
        match Formula::parse(formula).unwrap_err() {
            StatsError::InvalidFormula { position, message } => (position, message),
            other => panic!("{other}"),
        }
    }

    // Expected names are patsy 1.0.3's, printed by `patsy.dmatrices(f, df)[1].design_info.column_names`.
    #[test]
    fn columns_follow_patsy() {
        let ab: &[&[&str]] = &[&["p", "q", "r"], &["1", "2"]];
        assert_eq!(names("y ~ x1 + C(a)", &ab[..1]), ["Intercept", "C(a)[T.q]", "C(a)[T.r]", "x1"]);
        assert_eq!(
            names("y ~ C(a):C(b)", ab),
            [
                "Intercept",
                "C(b)[T.2]",
                "C(a)[T.q]:C(b)[1]",
                "C(a)[T.r]:C(b)[1]",
                "C(a)[T.q]:C(b)[2]",
                "C(a)[T.r]:C(b)[2]"
            ]
        );
        assert_eq!(names("y ~ x1:C(a)", &ab[..1]), ["Intercept", "x1:C(a)[p]", "x1:C(a)[q]", "x1:C(a)[r]"]);
        assert_eq!(names("y ~ x1 + x1:C(a)", &ab[..1]), ["Intercept", "x1", "x1:C(a)[T.q]", "x1:C(a)[T.r]"]);
        assert_eq!(
            names("y ~ C(a)*C(b)", ab),
            ["Intercept", "C(a)[T.q]", "C(a)[T.r]", "C(b)[T.2]", "C(a)[T.q]:C(b)[T.2]", "C(a)[T.r]:C(b)[T.2]"]
        );
        assert_eq!(names("y ~ C(a) - 1", &ab[..1]), ["C(a)[p]", "C(a)[q]", "C(a)[r]"]);
        assert_eq!(
            names("y ~ x1*x2 + np.log(x3) + I(x1*x2) + I(x1**2)", &[]),
            ["Intercept", "x1", "x2", "x1:x2", "np.log(x3)", "I(x1 * x2)", "I(x1 ** 2)"]
        );
        assert_eq!(names("y ~ np.exp(-x1)+I(-x1 + 2*x2)", &[]), ["Intercept", "np.exp(-x1)", "I(-x1 + 2 * x2)"]);
        assert_eq!(names("y ~ x1 + x1", &[]), ["Intercept", "x1"]);
        assert_eq!(names("y ~ 0 + (x1 + x2):x3", &[]), ["x1:x3", "x2:x3"]);
        assert_eq!(names("y ~ -1 + x1", &[]), ["x1"]);
        assert_eq!(names("y ~ x1 + x2 - x1", &[]), ["Intercept", "x2"]);
        assert_eq!(names("y ~ 1", &[]), ["Intercept"]);
        assert_eq!(names("y ~ I((x1 + 1) / 2)", &[]), ["Intercept", "I((x1 + 1) / 2)"]);
        assert_eq!(names("y ~ Q(\"my col\")", &[]), ["Intercept", "Q(\"my col\")"]);
    }

    #[test]
    fn design_values_are_distinct_products() {
        let f = Formula::parse("y ~ x1 + C(g) + x1:C(g) + x1:x2 + x2:x1").unwrap();
        let d = f.design();
        assert_eq!(f.terms.len(), 4);
        // x1, x1:x2
        assert_eq!(d.values, vec![vec![0], vec![0, 2]]);
        assert_eq!(d.keys, vec![1]);
    }

    #[test]
    fn instrumental_variables_blocks() {
        for text in ["y ~ x1 + [d ~ z1 + z2]", "y ~ (d ~ z1 + z2) + x1"] {
            let f = Formula::parse(text).unwrap();
            let d = f.design();
            assert_eq!(f.terms.len(), 1, "{text}");
            assert_eq!(f.term_name(&f.endogenous[0]), "d");
            assert_eq!(f.instruments.iter().map(|t| f.term_name(t)).collect::<Vec<_>>(), ["z1", "z2"]);
            assert_eq!(d.values.len(), 4);
            assert_eq!(d.endogenous.len(), 1);
            assert_eq!(d.instruments.len(), 2);
        }
        assert!(err("y ~ x1 + [d ~ C(g)]").1.contains("C(...) is not supported"));
        assert!(err("y ~ [d ~ z1] + [e ~ z2]").1.contains("only one"));
        assert_eq!(err("y ~ x1 + [d z1]").0, 12);
    }

    #[test]
    fn errors_point_at_the_problem() {
        assert_eq!(err("y ~ x1 + foo(x2)").0, 9);
        assert!(err("y ~ x1 + foo(x2)").1.contains("unknown function 'foo'"));
        assert_eq!(err("y ~ x1 +").0, 8);
        assert_eq!(err("y x1").0, 0);
        assert_eq!(err("y ~ x1 ~ x2").0, 7);
        assert_eq!(err("y ~ (x1 + x2").0, 12);
        assert!(err("y ~ x1 + 3").1.contains("I(...)"));
        assert_eq!(err("y ~ x1 $ x2").0, 7);
        assert!(err("C(g) ~ x1").1.contains("numeric"));
        assert!(err("y ~ C(g, Sum)").1.contains("one column"));
        assert!(err("y ~ 0").1.contains("no terms"));
    }
}
