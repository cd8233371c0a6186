//! Just enough of PostgreSQL's lexical rules to read SQL text without being fooled by it:
//! string literals (`'..'`, `E'..'`, `U&'..'`, dollar quotes), quoted identifiers, `--` and
//! nested `/* */` comments. Used on a site metric's own text (the early checks) and on the
//! expression texts of its plan (the functions and operators it calls).

/// One token; literals, numbers and parameters are dropped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Token {
    /// An identifier or key word: unquoted ones folded to lower case, quoted ones as written.
    Ident(String),
    /// A run of operator characters (`=`, `<>`, `~~*`, ...).
    Operator(String),
    /// Any other single character (`(`, `)`, `,`, `.`, `;`, `[`, ...).
    Punct(char),
}

const OPERATOR_CHARS: &str = "+-*/<>=~!@#%^&|`?";

/// The tokens of `sql`, or a one-line reason it cannot be read (an unterminated literal).
pub fn tokens(sql: &str) -> Result<Vec<Token>, String> {
    let chars: Vec<char> = sql.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    let at = |i: usize| chars.get(i).copied();
    while let Some(c) = at(i) {
        if c.is_whitespace() {
            i += 1;
        } else if c == '-' && at(i + 1) == Some('-') {
            while at(i).is_some_and(|c| c != '\n') {
                i += 1;
            }
        } else if c == '/' && at(i + 1) == Some('*') {
            let mut depth = 0;
            loop {
                match (at(i), at(i + 1)) {
                    (Some('/'), Some('*')) => (depth, i) = (depth + 1, i + 2),
                    (Some('*'), Some('/')) => {
                        (depth, i) = (depth - 1, i + 2);
                        if depth == 0 {
                            break;
                        }
                    }
                    (Some(_), _) => i += 1,
                    (None, _) => return Err("a /* comment is not closed".into()),
                }
            }
        } else if c == '\'' {
            i = skip_quoted(&chars, i, '\'', false)?;
        } else if (c == 'e' || c == 'E') && at(i + 1) == Some('\'') {
            i = skip_quoted(&chars, i + 1, '\'', true)?;
        } else if (c == 'u' || c == 'U') && at(i + 1) == Some('&') && matches!(at(i + 2), Some('\'' | '"')) {
            let quote = at(i + 2).unwrap_or('\'');
            let end = skip_quoted(&chars, i + 2, quote, false)?;
            if quote == '"' {
                out.push(Token::Ident(chars[i + 3..end - 1].iter().collect::<String>().replace("\"\"", "\"")));
            }
            i = end;
        } else if c == '"' {
            let end = skip_quoted(&chars, i, '"', false)?;
            out.push(Token::Ident(chars[i + 1..end - 1].iter().collect::<String>().replace("\"\"", "\"")));
            i = end;
        } else if c == '$' {
            // $1 (a parameter) or $tag$ ... $tag$ (a dollar-quoted string).
            let mut j = i + 1;
            while at(j).is_some_and(|c| c.is_alphanumeric() || c == '_') {
                j += 1;
            }
            if at(j) == Some('$') && !at(i + 1).is_some_and(|c| c.is_ascii_digit()) {
                let tag: String = chars[i..=j].iter().collect();
                let rest: String = chars[j + 1..].iter().collect();
                let Some(close) = rest.find(&tag) else { return Err(format!("the {tag} string is not closed")) };
                i = j + 1 + rest[..close].chars().count() + tag.chars().count();
            } else {
                i = j.max(i + 1);
            }
        } else if c.is_alphabetic() || c == '_' {
            let mut j = i;
            while at(j).is_some_and(|c| c.is_alphanumeric() || c == '_' || c == '$') {
                j += 1;
            }
            out.push(Token::Ident(chars[i..j].iter().collect::<String>().to_lowercase()));
            i = j;
        } else if c.is_ascii_digit() {
            while at(i).is_some_and(|c| c.is_alphanumeric() || c == '.' || c == '_') {
                i += 1;
            }
        } else if OPERATOR_CHARS.contains(c) {
            let mut j = i;
            while at(j).is_some_and(|c| OPERATOR_CHARS.contains(c))
                && !(at(j) == Some('-') && at(j + 1) == Some('-'))
                && !(at(j) == Some('/') && at(j + 1) == Some('*'))
            {
                j += 1;
            }
            out.push(Token::Operator(chars[i..j.max(i + 1)].iter().collect()));
            i = j.max(i + 1);
        } else {
            out.push(Token::Punct(c));
            i += 1;
        }
    }
    Ok(out)
}

/// The index after the closing quote of the literal or identifier opening at `start`.
fn skip_quoted(chars: &[char], start: usize, quote: char, backslash: bool) -> Result<usize, String> {
    let mut i = start + 1;
    loop {
        match chars.get(i).copied() {
            None => return Err(format!("a {quote}-quoted string or name is not closed")),
            Some('\\') if backslash => i += 2,
            Some(c) if c == quote && chars.get(i + 1) == Some(&quote) => i += 2,
            Some(c) if c == quote => return Ok(i + 1),
            Some(_) => i += 1,
        }
    }
}

/// A function named in SQL text: an identifier followed by `(`, with its schema when qualified.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Call {
    pub schema: Option<String>,
    pub name: String,
}

/// Every `name(` and `schema.name(` in the tokens. Key words followed by `(` (`in`, `exists`,
/// `coalesce`, ...) are listed too; they resolve to no function.
pub fn calls(tokens: &[Token]) -> Vec<Call> {
    let mut found = Vec::new();
    for (i, window) in tokens.windows(2).enumerate() {
        if let [Token::Ident(name), Token::Punct('(')] = window {
            let schema = match (i.checked_sub(2).map(|j| &tokens[j]), i.checked_sub(1).map(|j| &tokens[j])) {
                (Some(Token::Ident(schema)), Some(Token::Punct('.'))) => Some(schema.clone()),
                _ => None,
            };
            found.push(Call { schema, name: name.clone() });
        }
    }
    found.sort();
    found.dedup();
    found
}

/// Every operator symbol in the tokens.
pub fn operators(tokens: &[Token]) -> Vec<String> {
    let mut found: Vec<String> = tokens
        .iter()
        .filter_map(|token| match token {
            Token::Operator(op) => Some(op.clone()),
            _ => None,
        })
        .collect();
    found.sort();
    found.dedup();
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(sql: &str) -> Vec<String> {
        calls(&tokens(sql).unwrap())
            .into_iter()
            .map(|call| call.schema.map_or(call.name.clone(), |schema| format!("{schema}.{}", call.name)))
            .collect()
    }

    #[test]
    fn literals_and_comments_hide_nothing_and_invent_nothing() {
        let sql = "select '--' as l; commit; begin read write";
        let semicolons = tokens(sql).unwrap().iter().filter(|t| **t == Token::Punct(';')).count();
        assert_eq!(semicolons, 2);
        assert_eq!(
            names("select 'dblink_exec(' as x, $q$ lo_export( $q$, e'\\' pg_notify(' -- set_config(\n"),
            Vec::<String>::new()
        );
        assert_eq!(names("select /* a /* nested */ pg_sleep( */ 1"), Vec::<String>::new());
        assert_eq!(
            names("select \"pg_catalog\".\"set_config\"('a', 'b', false), Lo_Export (1, 'x'), u&\"Odd\"\"Name\"()"),
            ["Odd\"Name", "lo_export", "pg_catalog.set_config"]
        );
        assert_eq!(operators(&tokens("select (a <> b) and c ~~* 'x' -- ===\n").unwrap()), ["<>", "~~*"]);
        assert!(tokens("select 'open").is_err());
        assert!(tokens("select $a$ open").is_err());
        assert!(tokens("select /* open").is_err());
    }
}
