//! The architecture, checked: every file of `gateway/src` imports only from
//! its own layer and the layers below it (the table at the top of
//! `src/lib.rs`), no files import each other in a circle, tonic stays in the
//! API layer and the server, and no file is over 600 lines.
//!
//! It reads the sources as text: `use` trees and `crate::`, `super::` and
//! `self::` paths, resolved to the file that holds the module they name.
//! Inline `#[cfg(test)] mod tests { … }` blocks are left out: test code may
//! use whatever it tests.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// The layer of each top-level module; a module may import only from
/// modules of a layer at or below its own.
const LAYERS: &[(&str, u8)] = &[
    ("clock", 0),
    ("crypto", 0),
    ("metrics", 0),
    ("model", 1),
    ("config", 2),
    ("policy", 2),
    ("store", 3),
    ("service", 4),
    ("transport", 5),
    ("api", 6),
    ("server", 7),
    ("logging", 7),
    ("exporter", 7),
    ("tools", 8),
    ("main", 9),
];

/// Modules that may name tonic.
const TONIC_ALLOWED: &[&str] = &["api", "server"];

const MAX_LINES: usize = 600;

fn rank(top: &str) -> u8 {
    LAYERS
        .iter()
        .find(|(m, _)| *m == top)
        .map(|(_, r)| *r)
        .unwrap_or_else(|| panic!("module {top} is in no layer: add it to LAYERS and lib.rs"))
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The module path a file holds by its place: `store/sled/step.rs` is
/// `store::sled::step`, `store/mod.rs` is `store`.
fn module_of(rel: &Path) -> Vec<String> {
    let mut parts: Vec<String> = rel
        .with_extension("")
        .components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect();
    if parts.last().is_some_and(|p| p == "mod" || p == "lib") {
        parts.pop();
    }
    parts
}

/// The text without comments, string and char literals.
fn strip(src: &str) -> String {
    let b = src.as_bytes();
    let mut out = String::with_capacity(src.len());
    let mut i = 0;
    while i < b.len() {
        if b[i..].starts_with(b"//") {
            while i < b.len() && b[i] != b'\n' {
                i += 1;
            }
        } else if b[i..].starts_with(b"/*") {
            let mut depth = 0;
            while i < b.len() {
                if b[i..].starts_with(b"/*") {
                    depth += 1;
                    i += 2;
                } else if b[i..].starts_with(b"*/") {
                    depth -= 1;
                    i += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    i += 1;
                }
            }
        } else if b[i] == b'r' && (b.get(i + 1) == Some(&b'"') || b.get(i + 1) == Some(&b'#')) {
            // A raw string: r"…" or r#"…"#.
            let mut j = i + 1;
            let mut hashes = 0;
            while b.get(j) == Some(&b'#') {
                hashes += 1;
                j += 1;
            }
            if b.get(j) != Some(&b'"') {
                out.push('r');
                i += 1;
                continue;
            }
            j += 1;
            let end: Vec<u8> = std::iter::once(b'"')
                .chain(std::iter::repeat_n(b'#', hashes))
                .collect();
            while j < b.len() && !b[j..].starts_with(&end) {
                j += 1;
            }
            i = j + end.len();
            out.push_str("\"\"");
        } else if b[i] == b'"' {
            i += 1;
            while i < b.len() && b[i] != b'"' {
                i += if b[i] == b'\\' { 2 } else { 1 };
            }
            i += 1;
            out.push_str("\"\"");
        } else if b[i] == b'\'' && b.get(i + 2) == Some(&b'\'') {
            i += 3;
            out.push_str("' '");
        } else if b[i] == b'\'' && b.get(i + 1) == Some(&b'\\') {
            i += 2;
            while i < b.len() && b[i] != b'\'' {
                i += 1;
            }
            i += 1;
            out.push_str("' '");
        } else {
            out.push(b[i] as char);
            i += 1;
        }
    }
    out
}

/// The text without inline `#[cfg(test)] mod NAME { … }` blocks.
fn without_test_blocks(src: &str) -> String {
    let mut out = String::new();
    let mut rest = src;
    while let Some(at) = rest.find("#[cfg(test)]") {
        let after = &rest[at + "#[cfg(test)]".len()..];
        let trimmed = after.trim_start();
        let is_block = trimmed.starts_with("mod ")
            && trimmed
                .find(['{', ';'])
                .is_some_and(|i| trimmed.as_bytes()[i] == b'{');
        if !is_block {
            out.push_str(&rest[..at + "#[cfg(test)]".len()]);
            rest = after;
            continue;
        }
        out.push_str(&rest[..at]);
        let open = after.find('{').unwrap();
        let mut depth = 0;
        let mut end = after.len();
        for (i, c) in after[open..].char_indices() {
            match c {
                '{' => depth += 1,
                '}' => {
                    depth -= 1;
                    if depth == 0 {
                        end = open + i + 1;
                        break;
                    }
                }
                _ => {}
            }
        }
        rest = &after[end..];
    }
    out.push_str(rest);
    out
}

/// Expands a use tree (`a::{b, c::{d, e}}`) into its paths.
fn expand(tree: &str) -> Vec<String> {
    let tree = tree.trim();
    let Some(open) = tree.find('{') else {
        let path = tree.split(" as ").next().unwrap_or("").trim();
        return vec![path.to_owned()];
    };
    let prefix = tree[..open].trim_end_matches("::").trim();
    let inner = &tree[open + 1..tree.rfind('}').unwrap_or(tree.len())];
    let mut items = Vec::new();
    let (mut depth, mut start) = (0, 0);
    for (i, c) in inner.char_indices() {
        match c {
            '{' => depth += 1,
            '}' => depth -= 1,
            ',' if depth == 0 => {
                items.push(&inner[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    items.push(&inner[start..]);
    items
        .into_iter()
        .filter(|i| !i.trim().is_empty())
        .flat_map(expand)
        .map(|p| match p.as_str() {
            "self" => prefix.to_owned(),
            _ if prefix.is_empty() => p,
            _ => format!("{prefix}::{p}"),
        })
        .collect()
}

/// The modules a file declares (`mod x;`, `pub mod x;`): paths that start
/// with their names are relative to the file's module.
fn children(code: &str) -> Vec<String> {
    code.split(';')
        .filter_map(|stmt| {
            let words: Vec<&str> = stmt.split_whitespace().collect();
            match words.as_slice() {
                [.., "mod", name] if !name.contains('{') => Some((*name).to_owned()),
                _ => None,
            }
        })
        .collect()
}

/// Every path the code names that starts in this crate.
fn paths(code: &str) -> Vec<String> {
    let children = children(code);
    let relative = |p: String| match p.split("::").next() {
        Some(first) if children.iter().any(|c| c == first) => format!("self::{p}"),
        _ => p,
    };
    let mut out = Vec::new();
    let mut rest = code;
    while let Some(at) = rest.find("use ") {
        let before = rest[..at].chars().last();
        let after = &rest[at + 4..];
        rest = after;
        if before.is_some_and(|c| c.is_alphanumeric() || c == '_') {
            continue;
        }
        if let Some(end) = after.find(';') {
            out.extend(expand(&after[..end]).into_iter().map(relative));
        }
    }
    let bytes = code.as_bytes();
    let starts: Vec<String> = ["crate", "super", "self"]
        .iter()
        .map(|s| s.to_string())
        .chain(children.iter().cloned())
        .map(|s| format!("{s}::"))
        .collect();
    for start in &starts {
        let start = start.as_str();
        let mut from = 0;
        while let Some(i) = code[from..].find(start) {
            let at = from + i;
            from = at + start.len();
            if at > 0
                && (bytes[at - 1].is_ascii_alphanumeric()
                    || bytes[at - 1] == b'_'
                    || bytes[at - 1] == b':')
            {
                continue;
            }
            let end = code[at..]
                .find(|c: char| !(c.is_alphanumeric() || c == '_' || c == ':'))
                .map_or(code.len(), |e| at + e);
            out.push(relative(code[at..end].trim_end_matches(':').to_owned()));
        }
    }
    out.into_iter()
        .filter(|p| p.starts_with("crate") || p.starts_with("super") || p.starts_with("self"))
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect()
}

/// The absolute module path `path` names from inside module `here`.
fn absolute(path: &str, here: &[String]) -> Vec<String> {
    let mut segs: Vec<&str> = path.split("::").filter(|s| !s.is_empty()).collect();
    let mut base: Vec<String> = match segs.first() {
        Some(&"crate") => {
            segs.remove(0);
            Vec::new()
        }
        _ => here.to_vec(),
    };
    while let Some(&first) = segs.first() {
        match first {
            "super" => {
                base.pop();
                segs.remove(0);
            }
            "self" => {
                segs.remove(0);
            }
            _ => break,
        }
    }
    base.extend(segs.into_iter().map(str::to_owned));
    base
}

struct Source {
    rel: PathBuf,
    module: Vec<String>,
    code: String,
}

fn sources() -> Vec<Source> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let mut out: Vec<Source> = files
        .into_iter()
        .map(|f| {
            let rel = f.strip_prefix(&src).unwrap().to_owned();
            let text = std::fs::read_to_string(&f).unwrap();
            Source {
                module: module_of(&rel),
                code: without_test_blocks(&strip(&text)),
                rel,
            }
        })
        .collect();
    // `#[path = "x.rs"] mod name;` puts a file at `parent::name`.
    let mut renamed = BTreeMap::new();
    for s in &out {
        let text = std::fs::read_to_string(src.join(&s.rel)).unwrap();
        for (i, _) in text.match_indices("#[path = \"") {
            let rest = &text[i + 10..];
            let file = &rest[..rest.find('"').unwrap()];
            let name = rest
                .split("mod ")
                .nth(1)
                .unwrap()
                .split(';')
                .next()
                .unwrap();
            let target = s.rel.parent().unwrap().join(file);
            let mut module = s.module.clone();
            module.push(name.trim().to_owned());
            renamed.insert(target, module);
        }
    }
    for s in &mut out {
        if let Some(m) = renamed.remove(&s.rel) {
            s.module = m;
        }
    }
    out
}

/// Which file holds the module `path` names (the longest known prefix).
fn file_of<'a>(path: &[String], files: &'a BTreeMap<Vec<String>, PathBuf>) -> Option<&'a PathBuf> {
    (1..=path.len()).rev().find_map(|n| files.get(&path[..n]))
}

fn graph() -> (Vec<Source>, BTreeMap<PathBuf, BTreeSet<PathBuf>>) {
    let sources = sources();
    let files: BTreeMap<Vec<String>, PathBuf> = sources
        .iter()
        .filter(|s| !s.module.is_empty())
        .map(|s| (s.module.clone(), s.rel.clone()))
        .collect();
    let mut edges = BTreeMap::new();
    for s in &sources {
        let mut to = BTreeSet::new();
        for p in paths(&s.code) {
            let abs = absolute(&p, &s.module);
            if let Some(target) = file_of(&abs, &files)
                && *target != s.rel
            {
                to.insert(target.clone());
            }
        }
        edges.insert(s.rel.clone(), to);
    }
    (sources, edges)
}

#[test]
fn no_file_imports_from_a_higher_layer() {
    let (sources, edges) = graph();
    let top = |rel: &Path| -> String {
        let m = module_of(rel);
        m.first().cloned().unwrap_or_default()
    };
    let mut wrong = Vec::new();
    for s in &sources {
        if s.module.is_empty() {
            continue; // lib.rs declares every module
        }
        let from = top(&s.rel);
        for target in &edges[&s.rel] {
            let to = top(target);
            if to.is_empty() {
                continue;
            }
            if rank(&to) > rank(&from) {
                wrong.push(format!(
                    "{} (layer {}) imports {} (layer {})",
                    s.rel.display(),
                    rank(&from),
                    target.display(),
                    rank(&to)
                ));
            }
        }
    }
    assert!(
        wrong.is_empty(),
        "imports against the layers:\n{}",
        wrong.join("\n")
    );
}

#[test]
fn no_files_import_each_other_in_a_circle() {
    let (_, edges) = graph();
    // Tarjan's strongly connected components.
    struct State<'a> {
        edges: &'a BTreeMap<PathBuf, BTreeSet<PathBuf>>,
        index: BTreeMap<&'a PathBuf, usize>,
        low: BTreeMap<&'a PathBuf, usize>,
        stack: Vec<&'a PathBuf>,
        on_stack: BTreeSet<&'a PathBuf>,
        circles: Vec<Vec<&'a PathBuf>>,
    }
    fn visit<'a>(v: &'a PathBuf, s: &mut State<'a>) {
        let n = s.index.len();
        s.index.insert(v, n);
        s.low.insert(v, n);
        s.stack.push(v);
        s.on_stack.insert(v);
        for w in s.edges.get(v).into_iter().flatten() {
            if !s.index.contains_key(w) {
                visit(w, s);
                let lw = s.low[w];
                let lv = s.low.get_mut(v).unwrap();
                *lv = (*lv).min(lw);
            } else if s.on_stack.contains(w) {
                let iw = s.index[w];
                let lv = s.low.get_mut(v).unwrap();
                *lv = (*lv).min(iw);
            }
        }
        if s.low[v] == s.index[v] {
            let mut component = Vec::new();
            while let Some(w) = s.stack.pop() {
                s.on_stack.remove(w);
                component.push(w);
                if w == v {
                    break;
                }
            }
            if component.len() > 1 {
                s.circles.push(component);
            }
        }
    }
    let mut state = State {
        edges: &edges,
        index: BTreeMap::new(),
        low: BTreeMap::new(),
        stack: Vec::new(),
        on_stack: BTreeSet::new(),
        circles: Vec::new(),
    };
    for v in edges.keys() {
        if !state.index.contains_key(v) {
            visit(v, &mut state);
        }
    }
    let circles: Vec<String> = state
        .circles
        .iter()
        .map(|c| {
            c.iter()
                .map(|p| p.display().to_string())
                .collect::<Vec<_>>()
                .join(" <-> ")
        })
        .collect();
    assert!(
        circles.is_empty(),
        "files importing each other:\n{}",
        circles.join("\n")
    );
}

#[test]
fn tonic_stays_in_the_api_and_the_server() {
    let mut wrong = Vec::new();
    for s in sources() {
        let top = s.module.first().cloned().unwrap_or_default();
        if s.code.contains("tonic") && !TONIC_ALLOWED.contains(&top.as_str()) && top != "main" {
            wrong.push(s.rel.display().to_string());
        }
    }
    assert!(
        wrong.is_empty(),
        "tonic outside api/ and server.rs: {wrong:?}"
    );
}

#[test]
fn no_source_file_is_over_600_lines() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let long: Vec<String> = sources()
        .iter()
        .filter_map(|s| {
            let n = std::fs::read_to_string(src.join(&s.rel))
                .unwrap()
                .lines()
                .count();
            (n > MAX_LINES).then(|| format!("{} ({n} lines)", s.rel.display()))
        })
        .collect();
    assert!(long.is_empty(), "files over {MAX_LINES} lines: {long:?}");
}

#[test]
fn the_checker_reads_paths_as_rust_does() {
    assert_eq!(
        expand("super::{keys::{A, B}, step, self}"),
        vec!["super::keys::A", "super::keys::B", "super::step", "super"]
    );
    assert_eq!(expand("crate::model::Oin as O"), vec!["crate::model::Oin"]);
    let here: Vec<String> = ["store", "sled", "step"].map(String::from).to_vec();
    assert_eq!(
        absolute("super::keys::A", &here),
        ["store", "sled", "keys", "A"]
    );
    assert_eq!(absolute("super::super::Store", &here), ["store", "Store"]);
    assert_eq!(absolute("crate::model::Oin", &here), ["model", "Oin"]);
    let code = strip("let a = \"crate::api\"; // crate::server\nuse crate::clock::now;");
    assert_eq!(paths(&code), ["crate::clock::now"]);
    let code = strip("mod keys;\npub use keys::K;\nfn f() { keys::k(); other::x(); }");
    assert_eq!(paths(&code), ["self::keys::K", "self::keys::k"]);
    let cut = without_test_blocks("a\n#[cfg(test)]\nmod tests {\n use crate::api; {}\n}\nb");
    assert!(!cut.contains("api") && cut.contains('b'));
    assert_eq!(module_of(Path::new("store/sled/mod.rs")), ["store", "sled"]);
}
