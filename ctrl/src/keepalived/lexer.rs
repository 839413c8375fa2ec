//! keepalived.conf's words and blocks: the text as [`Stmt`]s, each a keyword with the words after
//! it on its line and, when a `{` follows, the statements of its block, every one with the line it
//! starts on.
//!
//! The grammar is keepalived's: words are separated by whitespace; `{` and `}` are words of their
//! own even when written against another word; `#` and `!` outside quotes start a comment that runs
//! to the end of the line; `"` and `'` quote (whitespace and comment characters included) within a
//! word, and are removed, so `"a b"c` is the word `a bc`. In quotes, `\\`, `\"`, `\'`, `\n`, `\t`
//! and `\r` are escapes; `${NAME}` (keepalived's parameter substitution) is one word. A
//! statement's values are the words on its keyword's line; its block may open on the next line.
//! Nothing here panics or recurses without bound, whatever the text.

use super::KeepalivedError;

/// Blocks nested deeper than this are refused (keepalived's own deepest is 4: virtual_server,
/// real_server, HTTP_GET, url).
const MAX_DEPTH: usize = 32;

/// One statement: `keyword args... [{ block }]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Stmt {
    /// The line of the keyword (1-based).
    pub line: usize,
    /// The first word.
    pub keyword: String,
    /// The other words on the keyword's line, before any `{`.
    pub args: Vec<String>,
    /// The statements between `{` and `}`, when a `{` follows.
    pub block: Option<Vec<Stmt>>,
}

/// A word or a brace, with its line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Token {
    /// A word, its quotes removed and its escapes applied.
    Word(usize, String),
    /// `{`.
    Open(usize),
    /// `}`.
    Close(usize),
}

/// The words and braces of `text`, in order.
pub(super) fn tokens(text: &str) -> Result<Vec<Token>, KeepalivedError> {
    let mut out = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        line_tokens(i + 1, raw, &mut out)?;
    }
    Ok(out)
}

/// The tokens of one line (`n` its number).
fn line_tokens(n: usize, line: &str, out: &mut Vec<Token>) -> Result<(), KeepalivedError> {
    let mut chars = line.chars().peekable();
    // The word being read, if any: `Some` as soon as a character (or a quote) of it is seen.
    let mut word: Option<String> = None;
    while let Some(c) = chars.next() {
        match c {
            c if c.is_whitespace() => {
                if let Some(w) = word.take() {
                    out.push(Token::Word(n, w));
                }
            }
            '#' | '!' => break,
            // `${NAME}`, keepalived's parameter substitution, stays one word (to be refused as such).
            '{' if word.as_deref().is_some_and(|w| w.ends_with('$')) => {
                let w = word.get_or_insert_with(String::new);
                w.push(c);
                for p in chars.by_ref() {
                    w.push(p);
                    if p == '}' {
                        break;
                    }
                }
            }
            '{' | '}' => {
                if let Some(w) = word.take() {
                    out.push(Token::Word(n, w));
                }
                out.push(if c == '{' { Token::Open(n) } else { Token::Close(n) });
            }
            '"' | '\'' => {
                let w = word.get_or_insert_with(String::new);
                loop {
                    match chars.next() {
                        None => return Err(KeepalivedError::syntax(n, "a quoted string is not closed on its line")),
                        Some(q) if q == c => break,
                        Some('\\') => w.push(escape(n, chars.next())?),
                        Some(other) => w.push(other),
                    }
                }
            }
            '\\' if chars.peek().is_none() => {
                return Err(KeepalivedError::unsupported(n, "a line continued with '\\'"));
            }
            other => word.get_or_insert_with(String::new).push(other),
        }
    }
    if let Some(w) = word {
        out.push(Token::Word(n, w));
    }
    Ok(())
}

/// The character an escape in quotes stands for (`next`: the one after the backslash).
fn escape(line: usize, next: Option<char>) -> Result<char, KeepalivedError> {
    match next {
        Some(c @ ('\\' | '"' | '\'')) => Ok(c),
        Some('n') => Ok('\n'),
        Some('t') => Ok('\t'),
        Some('r') => Ok('\r'),
        Some(c) => Err(KeepalivedError::unsupported(line, format!("the escape '\\{c}' in a quoted string"))),
        None => Err(KeepalivedError::syntax(line, "a quoted string is not closed on its line")),
    }
}

/// The statements of `text`.
pub(super) fn statements(text: &str) -> Result<Vec<Stmt>, KeepalivedError> {
    let tokens = tokens(text)?;
    let mut pos = 0;
    let stmts = block(&tokens, &mut pos, None, 0)?;
    Ok(stmts)
}

/// The statements from `pos` to the `}` that closes the block opened on line `open` (`None`: to
/// the end of the text), `depth` blocks deep.
fn block(tokens: &[Token], pos: &mut usize, open: Option<usize>, depth: usize) -> Result<Vec<Stmt>, KeepalivedError> {
    let mut out = Vec::new();
    loop {
        let Some(tok) = tokens.get(*pos) else {
            return match open {
                Some(l) => Err(KeepalivedError::syntax(l, "this '{' is never closed")),
                None => Ok(out),
            };
        };
        *pos += 1;
        let (line, keyword) = match tok {
            Token::Close(l) if open.is_none() => {
                return Err(KeepalivedError::syntax(*l, "'}' without a '{' to close"));
            }
            Token::Close(_) => return Ok(out),
            Token::Open(l) => return Err(KeepalivedError::syntax(*l, "'{' without a keyword before it")),
            Token::Word(l, w) => (*l, w.clone()),
        };
        let mut args = Vec::new();
        while let Some(Token::Word(l, w)) = tokens.get(*pos)
            && *l == line
        {
            args.push(w.clone());
            *pos += 1;
        }
        let block = match tokens.get(*pos) {
            Some(Token::Open(l)) => {
                if depth + 1 > MAX_DEPTH {
                    return Err(KeepalivedError::syntax(*l, format!("blocks nested deeper than {MAX_DEPTH}")));
                }
                let l = *l;
                *pos += 1;
                Some(block(tokens, pos, Some(l), depth + 1)?)
            }
            _ => None,
        };
        out.push(Stmt { line, keyword, args, block });
    }
}
