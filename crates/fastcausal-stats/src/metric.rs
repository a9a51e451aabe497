//! Metric expressions: arithmetic over the means of columns.
//!
//! An A/B-test metric is usually a function of a few means: a ratio metric such as revenue per
//! click is `avg(revenue) / avg(clicks)`, a difference is `avg(a) - avg(b)`. A [`MetricExpr`]
//! is such a function: numbers, the mean of column `j` (written `$j`, 1-based, in text form),
//! `+ - * /`, unary minus and parentheses.
//!
//! [`MetricExpr::value_and_gradient`] evaluates the function and its exact gradient with
//! respect to the means together, by applying the chain rule to the expression tree
//! (forward-mode differentiation): no finite differences, so the delta method built on it is
//! exact. The SQL layer parses `avg(numerator)/avg(denominator)` into `$1/$2` plus the list of
//! column expressions; this module only sees the placeholders.

use std::fmt;

use crate::error::{Result, StatsError};

/// An arithmetic expression of column means. See the [module documentation](self).
#[derive(Debug, Clone, PartialEq)]
pub enum MetricExpr {
    /// A number.
    Const(f64),
    /// The mean of column `j` (0-based index; written `$j+1`).
    Mean(usize),
    Neg(Box<MetricExpr>),
    Add(Box<MetricExpr>, Box<MetricExpr>),
    Sub(Box<MetricExpr>, Box<MetricExpr>),
    Mul(Box<MetricExpr>, Box<MetricExpr>),
    Div(Box<MetricExpr>, Box<MetricExpr>),
}

impl MetricExpr {
    /// Parses the text form, e.g. `$1 / $2 - 0.5 * $3`.
    pub fn parse(text: &str) -> Result<MetricExpr> {
        let mut p = Parser { text, pos: 0 };
        let e = p.expr()?;
        p.skip_ws();
        if p.pos < text.len() {
            return Err(p.error("unexpected text after the end of the expression"));
        }
        Ok(e)
    }

    /// One more than the largest column index used (0 if no column is used).
    pub fn arity(&self) -> usize {
        match self {
            MetricExpr::Const(_) => 0,
            MetricExpr::Mean(j) => j + 1,
            MetricExpr::Neg(a) => a.arity(),
            MetricExpr::Add(a, b) | MetricExpr::Sub(a, b) | MetricExpr::Mul(a, b) | MetricExpr::Div(a, b) => {
                a.arity().max(b.arity())
            }
        }
    }

    /// The value at `means`; see [`Self::value_and_gradient`].
    pub fn value(&self, means: &[f64]) -> Result<f64> {
        Ok(self.value_and_gradient(means)?.0)
    }

    /// The value at `means` and the gradient ∂value/∂means. A division by zero is an
    /// [`StatsError::UndefinedMetric`] error naming the denominator in `$j` form; use
    /// [`Self::display_with`] to turn names into the user's.
    pub fn value_and_gradient(&self, means: &[f64]) -> Result<(f64, Vec<f64>)> {
        self.value_and_gradient_named(means, &placeholder_names(means.len()))
    }

    /// As [`Self::value_and_gradient`], naming columns `names[j]` in errors.
    pub fn value_and_gradient_named(&self, means: &[f64], names: &[String]) -> Result<(f64, Vec<f64>)> {
        if self.arity() > means.len() {
            return Err(StatsError::Shape(format!(
                "metric uses {} columns but {} means were given",
                self.arity(),
                means.len()
            )));
        }
        let k = means.len();
        let d = self.dual(means, names, k)?;
        if !d.value.is_finite() {
            return Err(StatsError::UndefinedMetric {
                reason: format!("{} evaluates to {}", self.display_with(names), d.value),
            });
        }
        Ok((d.value, d.grad))
    }

    fn dual(&self, means: &[f64], names: &[String], k: usize) -> Result<Dual> {
        Ok(match self {
            MetricExpr::Const(c) => Dual { value: *c, grad: vec![0.0; k] },
            MetricExpr::Mean(j) => {
                let mut grad = vec![0.0; k];
                grad[*j] = 1.0;
                Dual { value: means[*j], grad }
            }
            MetricExpr::Neg(a) => {
                let a = a.dual(means, names, k)?;
                Dual { value: -a.value, grad: a.grad.iter().map(|g| -g).collect() }
            }
            MetricExpr::Add(a, b) => a.dual(means, names, k)?.combine(b.dual(means, names, k)?, 1.0, 1.0, |x, y| x + y),
            MetricExpr::Sub(a, b) => {
                a.dual(means, names, k)?.combine(b.dual(means, names, k)?, 1.0, -1.0, |x, y| x - y)
            }
            MetricExpr::Mul(a, b) => {
                let (a, b) = (a.dual(means, names, k)?, b.dual(means, names, k)?);
                let (va, vb) = (a.value, b.value);
                a.combine(b, vb, va, |x, y| x * y)
            }
            MetricExpr::Div(a, b) => {
                let denominator = b;
                let (a, b) = (a.dual(means, names, k)?, b.dual(means, names, k)?);
                if b.value == 0.0 {
                    return Err(StatsError::UndefinedMetric {
                        reason: format!("division by zero: {} = 0", denominator.display_with(names)),
                    });
                }
                let (va, vb) = (a.value, b.value);
                // d(a/b) = da/b − a db/b²
                a.combine(b, 1.0 / vb, -va / (vb * vb), |x, y| x / y)
            }
        })
    }

    /// The expression with `$j` replaced by `avg(names[j-1])`, for messages and headers.
    pub fn display_with(&self, names: &[String]) -> String {
        let mut s = String::new();
        self.write(&mut s, names, 0).expect("writing to a String");
        s
    }

    fn write(&self, out: &mut String, names: &[String], parent_prec: u8) -> fmt::Result {
        use fmt::Write;
        let prec = self.precedence();
        let paren = prec < parent_prec;
        if paren {
            out.push('(');
        }
        match self {
            MetricExpr::Const(c) => write!(out, "{c}")?,
            MetricExpr::Mean(j) => match names.get(*j) {
                Some(name) if !name.starts_with('$') => write!(out, "avg({name})")?,
                _ => write!(out, "${}", j + 1)?,
            },
            MetricExpr::Neg(a) => {
                out.push('-');
                a.write(out, names, 3)?;
            }
            MetricExpr::Add(a, b) | MetricExpr::Sub(a, b) | MetricExpr::Mul(a, b) | MetricExpr::Div(a, b) => {
                let op = match self {
                    MetricExpr::Add(..) => " + ",
                    MetricExpr::Sub(..) => " - ",
                    MetricExpr::Mul(..) => " * ",
                    _ => " / ",
                };
                a.write(out, names, prec)?;
                out.push_str(op);
                // Right operand of - and / binds tighter to keep left associativity.
                b.write(out, names, prec + 1)?;
            }
        }
        if paren {
            out.push(')');
        }
        Ok(())
    }

    fn precedence(&self) -> u8 {
        match self {
            MetricExpr::Add(..) | MetricExpr::Sub(..) => 1,
            MetricExpr::Mul(..) | MetricExpr::Div(..) => 2,
            MetricExpr::Neg(_) => 3,
            MetricExpr::Const(_) | MetricExpr::Mean(_) => 4,
        }
    }
}

impl fmt::Display for MetricExpr {
    /// The text form that [`MetricExpr::parse`] reads back.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.display_with(&[]))
    }
}

fn placeholder_names(k: usize) -> Vec<String> {
    (1..=k).map(|j| format!("${j}")).collect()
}

struct Dual {
    value: f64,
    grad: Vec<f64>,
}

impl Dual {
    /// value = op(a, b), gradient = ca·∇a + cb·∇b.
    fn combine(mut self, other: Dual, ca: f64, cb: f64, op: impl Fn(f64, f64) -> f64) -> Dual {
        for (g, h) in self.grad.iter_mut().zip(&other.grad) {
            *g = ca * *g + cb * h;
        }
        self.value = op(self.value, other.value);
        self
    }
}

/// Recursive-descent parser of the text form.
struct Parser<'a> {
    text: &'a str,
    pos: usize,
}

impl Parser<'_> {
    fn error(&self, message: &str) -> StatsError {
        StatsError::InvalidMetric { position: self.pos + 1, message: message.to_string() }
    }
    fn skip_ws(&mut self) {
        while self.text[self.pos..].starts_with(|c: char| c.is_whitespace()) {
            self.pos += 1;
        }
    }
    fn peek(&mut self) -> Option<char> {
        self.skip_ws();
        self.text[self.pos..].chars().next()
    }
    fn expr(&mut self) -> Result<MetricExpr> {
        let mut left = self.term()?;
        while let Some(op @ ('+' | '-')) = self.peek() {
            self.pos += 1;
            let right = self.term()?;
            left = if op == '+' {
                MetricExpr::Add(left.into(), right.into())
            } else {
                MetricExpr::Sub(left.into(), right.into())
            };
        }
        Ok(left)
    }
    fn term(&mut self) -> Result<MetricExpr> {
        let mut left = self.unary()?;
        while let Some(op @ ('*' | '/')) = self.peek() {
            self.pos += 1;
            let right = self.unary()?;
            left = if op == '*' {
                MetricExpr::Mul(left.into(), right.into())
            } else {
                MetricExpr::Div(left.into(), right.into())
            };
        }
        Ok(left)
    }
    fn unary(&mut self) -> Result<MetricExpr> {
        match self.peek() {
            Some('-') => {
                self.pos += 1;
                Ok(MetricExpr::Neg(self.unary()?.into()))
            }
            Some('+') => {
                self.pos += 1;
                self.unary()
            }
            _ => self.atom(),
        }
    }
    fn atom(&mut self) -> Result<MetricExpr> {
        match self.peek() {
            Some('(') => {
                self.pos += 1;
                let e = self.expr()?;
                if self.peek() != Some(')') {
                    return Err(self.error("expected ')'"));
                }
                self.pos += 1;
                Ok(e)
            }
            Some('$') => {
                self.pos += 1;
                let digits = self.take_while(|c| c.is_ascii_digit());
                match digits.parse::<usize>() {
                    Ok(j) if j >= 1 => Ok(MetricExpr::Mean(j - 1)),
                    _ => Err(self.error("expected a column number $1, $2, …")),
                }
            }
            Some(c) if c.is_ascii_digit() || c == '.' => {
                let start = self.pos;
                let mut prev = ' ';
                let text = self.text;
                let len = text[start..]
                    .char_indices()
                    .find(|&(_, c)| {
                        let ok = c.is_ascii_digit()
                            || c == '.'
                            || c == 'e'
                            || c == 'E'
                            || ((c == '-' || c == '+') && (prev == 'e' || prev == 'E'));
                        prev = c;
                        !ok
                    })
                    .map_or(text.len() - start, |(i, _)| i);
                let s = &text[start..start + len];
                let v: f64 = s.parse().map_err(|_| self.error(&format!("'{s}' is not a number")))?;
                self.pos += len;
                Ok(MetricExpr::Const(v))
            }
            Some(_) => Err(self.error("expected a number, a column $j or '('")),
            None => Err(self.error("unexpected end of the expression")),
        }
    }
    fn take_while(&mut self, f: impl Fn(char) -> bool) -> &str {
        let start = self.pos;
        let len = self.text[start..].find(|c| !f(c)).unwrap_or(self.text.len() - start);
        self.pos += len;
        &self.text[start..start + len]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_display_round_trip() {
        for text in [
            "$1 / $2",
            "$1 / $2 - $3",
            "($1 + $2) / ($3 - 2)",
            "-$1 * 0.5",
            "$1 - ($2 - $3)",
            "$1 / ($2 / $3)",
            "1e-3 * $1",
        ] {
            let e = MetricExpr::parse(text).unwrap();
            assert_eq!(MetricExpr::parse(&e.to_string()).unwrap(), e, "{text} → {e}");
        }
        assert_eq!(MetricExpr::parse("$1/$2").unwrap().to_string(), "$1 / $2");
        assert_eq!(MetricExpr::parse("$1-($2-$3)").unwrap().to_string(), "$1 - ($2 - $3)");
    }

    #[test]
    fn ratio_value_and_gradient() {
        // g = a/b at (3, 4): 0.75, ∇ = (1/4, −3/16)
        let e = MetricExpr::parse("$1/$2").unwrap();
        let (v, g) = e.value_and_gradient(&[3.0, 4.0]).unwrap();
        assert_eq!(v, 0.75);
        assert_eq!(g, vec![0.25, -3.0 / 16.0]);
    }

    #[test]
    fn product_quotient_gradient_by_hand() {
        // g = (a·b − 2)/c at (1,2,4): (2−2)/4 = 0; ∂a = b/c = .5, ∂b = a/c = .25, ∂c = −(ab−2)/c² = 0
        let e = MetricExpr::parse("($1*$2 - 2)/$3").unwrap();
        let (v, g) = e.value_and_gradient(&[1.0, 2.0, 4.0]).unwrap();
        assert_eq!(v, 0.0);
        assert_eq!(g, vec![0.5, 0.25, 0.0]);
        // −a + 3: ∇ = (−1)
        let (v, g) = MetricExpr::parse("-$1 + 3").unwrap().value_and_gradient(&[2.0]).unwrap();
        assert_eq!((v, g), (1.0, vec![-1.0]));
    }

    #[test]
    fn division_by_zero_names_the_denominator() {
        let e = MetricExpr::parse("$1/$2").unwrap();
        let err = e.value_and_gradient_named(&[1.0, 0.0], &["clicks".into(), "views".into()]).unwrap_err();
        assert_eq!(err.to_string(), "the metric is undefined at the observed means: division by zero: avg(views) = 0");
    }

    #[test]
    fn parse_errors_point_at_position() {
        let err = MetricExpr::parse("$1 / ").unwrap_err();
        assert_eq!(err, StatsError::InvalidMetric { position: 6, message: "unexpected end of the expression".into() });
        assert!(matches!(MetricExpr::parse("$0"), Err(StatsError::InvalidMetric { .. })));
        assert!(matches!(MetricExpr::parse("($1"), Err(StatsError::InvalidMetric { .. })));
        assert!(matches!(MetricExpr::parse("$1 $2"), Err(StatsError::InvalidMetric { position: 4, .. })));
    }

    #[test]
    fn arity() {
        assert_eq!(MetricExpr::parse("$3 - $1").unwrap().arity(), 3);
        assert_eq!(MetricExpr::parse("2").unwrap().arity(), 0);
    }
}
