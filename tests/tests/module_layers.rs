//! The imports of each module point one way (issue 18): read from the code's own `use` lines and
//! `crate::` / `super::` paths, no two modules of a crate's source may import each other, directly
//! or round a circle; the HTTP and JWS seam (`core/verifier/src/http.rs`, `jws.rs`) sits below
//! every other module of kluis-verifier (kluis-core uses it from there); and no CLI command
//! module uses another (they share
//! `bindings/cli/src/shared.rs` and `views.rs`). Test code (`#[cfg(test)]`) is left out: a test may
//! use whatever it checks against.
//!
//! An edge is counted between siblings: `openid4vp/session/view.rs` naming
//! `crate::openid4vp::request::…` is an edge session → request under `openid4vp`;
//! `crate::status::…` from anywhere below `delegation` is delegation → status at the crate root.
//! A module naming its own parent or children is not an edge.
#![allow(clippy::unwrap_used)]

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Every crate's source directory whose modules must point one way.
const SOURCES: &[&str] = &[
    "core/crypto/src",
    "core/vault/src",
    "core/sdjwt/src",
    "core/qr/src",
    "core/verifier/src",
    "core/src",
    "bindings/cli/src",
    "bindings/ffi/src",
    "verifier-server/src",
    "fixtures/src",
    "tests/src",
];

type ModPath = Vec<String>;

/// Sibling edges: parent module → (from, to) → where (file:line).
type Edges = BTreeMap<ModPath, BTreeMap<(String, String), Vec<String>>>;

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

/// Comments removed, and string and char literals blanked with spaces, so that byte offsets and
/// line numbers stay those of the file.
fn code_only(src: &str) -> String {
    let b = src.as_bytes();
    let mut out = b.to_vec();
    let blank = |out: &mut Vec<u8>, from: usize, to: usize| {
        for c in &mut out[from..to] {
            if *c != b'\n' {
                *c = b' ';
            }
        }
    };
    let mut i = 0;
    while i < b.len() {
        let word_start = i == 0 || !(b[i - 1].is_ascii_alphanumeric() || b[i - 1] == b'_');
        if b[i..].starts_with(b"//") {
            let end = b[i..]
                .iter()
                .position(|&c| c == b'\n')
                .map_or(b.len(), |p| i + p);
            blank(&mut out, i, end);
            i = end;
        } else if b[i..].starts_with(b"/*") {
            let mut depth = 0;
            let mut j = i;
            while j < b.len() {
                if b[j..].starts_with(b"/*") {
                    depth += 1;
                    j += 2;
                } else if b[j..].starts_with(b"*/") {
                    depth -= 1;
                    j += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    j += 1;
                }
            }
            blank(&mut out, i, j);
            i = j;
        } else if word_start && (b[i] == b'r' || b[i..].starts_with(b"br")) && {
            let k = i + if b[i] == b'b' { 2 } else { 1 };
            let hashes = b[k..].iter().take_while(|&&c| c == b'#').count();
            b.get(k + hashes) == Some(&b'"')
        } {
            let k = i + if b[i] == b'b' { 2 } else { 1 };
            let hashes = b[k..].iter().take_while(|&&c| c == b'#').count();
            let mut close = vec![b'"'];
            close.extend(std::iter::repeat_n(b'#', hashes));
            let body = k + hashes + 1;
            let end = b[body..]
                .windows(close.len())
                .position(|w| w == close.as_slice())
                .map_or(b.len(), |p| body + p + close.len());
            blank(&mut out, i, end);
            i = end;
        } else if b[i] == b'"' {
            let mut j = i + 1;
            while j < b.len() && b[j] != b'"' {
                j += if b[j] == b'\\' { 2 } else { 1 };
            }
            let end = (j + 1).min(b.len());
            blank(&mut out, i, end);
            i = end;
        } else if b[i] == b'\'' {
            // A char literal ('x', '\n', '\u{..}', 'é'), or else a lifetime (left as it is).
            let rest = &src[i + 1..];
            let len = if rest.starts_with('\\') {
                rest.get(2..).and_then(|r| r.find('\'')).map(|p| p + 4)
            } else {
                let mut cs = rest.char_indices();
                match (cs.next(), cs.next()) {
                    (Some(_), Some((p, '\''))) => Some(p + 2),
                    _ => None,
                }
            };
            match len {
                Some(n) => {
                    blank(&mut out, i, i + n);
                    i += n;
                }
                None => i += 1,
            }
        } else {
            i += 1;
        }
    }
    String::from_utf8(out).unwrap()
}

/// Byte ranges of `#[cfg(test)]` items (to the `;` of a declaration or the item's closing brace).
fn test_items(code: &str) -> Vec<(usize, usize)> {
    let b = code.as_bytes();
    let mut out = Vec::new();
    let mut from = 0;
    while let Some(p) = code[from..].find("#[cfg(test)]") {
        let start = from + p;
        let brace = code[start..].find('{').map(|q| start + q);
        let semi = code[start..].find(';').map(|q| start + q);
        let end = match (brace, semi) {
            (_, Some(s)) if brace.is_none_or(|o| s < o) => s + 1,
            (Some(o), _) => {
                let mut depth = 0;
                let mut j = o;
                while j < b.len() {
                    match b[j] {
                        b'{' => depth += 1,
                        b'}' => {
                            depth -= 1;
                            if depth == 0 {
                                break;
                            }
                        }
                        _ => {}
                    }
                    j += 1;
                }
                j + 1
            }
            _ => code.len(),
        };
        out.push((start, end.min(code.len())));
        from = end.min(code.len());
    }
    out
}

/// Every module file of the crate under `src` by its module path (`[]` for lib.rs / main.rs),
/// leaving out binaries under `src/bin` and the files of test-only modules.
fn module_files(src: &Path) -> BTreeMap<ModPath, PathBuf> {
    let mut files = Vec::new();
    let mut dirs = vec![src.to_path_buf()];
    while let Some(d) = dirs.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                if p != src.join("bin") {
                    dirs.push(p);
                }
            } else if p.extension().is_some_and(|x| x == "rs") {
                files.push(p);
            }
        }
    }
    let has_lib = src.join("lib.rs").exists();
    let mut test_only: BTreeSet<PathBuf> = BTreeSet::new();
    for f in &files {
        let text = std::fs::read_to_string(f).unwrap();
        let code = code_only(&text);
        for (a, z) in test_items(&code) {
            // `#[cfg(test)] #[path = "x.rs"] mod y;` or `#[cfg(test)] mod y;`
            let item = &text[a..z];
            let dir = if f
                .file_name()
                .is_some_and(|n| n == "mod.rs" || n == "lib.rs")
            {
                f.parent().unwrap().to_path_buf()
            } else {
                f.with_extension("")
            };
            if let Some(p) = item
                .split("#[path = \"")
                .nth(1)
                .and_then(|r| r.split('"').next())
            {
                test_only.insert(f.parent().unwrap().join(p));
            } else if let Some(name) = code[a..z]
                .trim_end_matches(';')
                .split_whitespace()
                .last()
                .filter(|_| code[a..z].ends_with(';') && code[a..z].contains("mod "))
            {
                test_only.insert(dir.join(format!("{name}.rs")));
                test_only.insert(dir.join(name).join("mod.rs"));
            }
        }
    }
    let mut out = BTreeMap::new();
    for f in files {
        if test_only.contains(&f) || (has_lib && f == src.join("main.rs")) {
            continue;
        }
        let rel = f.strip_prefix(src).unwrap().with_extension("");
        let mut path: ModPath = rel
            .components()
            .map(|c| c.as_os_str().to_string_lossy().into_owned())
            .collect();
        if path.len() == 1 && (path[0] == "lib" || path[0] == "main")
            || path.last().unwrap() == "mod"
        {
            path.pop();
        }
        out.insert(path, f);
    }
    out
}

#[derive(Debug, PartialEq)]
enum Tok {
    Ident(String),
    Punct(char),
    Colons,
}

fn tokens(s: &str) -> Vec<Tok> {
    let cs: Vec<char> = s.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < cs.len() {
        let c = cs[i];
        if c.is_alphanumeric() || c == '_' {
            let start = i;
            while i < cs.len() && (cs[i].is_alphanumeric() || cs[i] == '_') {
                i += 1;
            }
            out.push(Tok::Ident(cs[start..i].iter().collect()));
        } else if c == ':' && cs.get(i + 1) == Some(&':') {
            out.push(Tok::Colons);
            i += 2;
        } else {
            if !c.is_whitespace() {
                out.push(Tok::Punct(c));
            }
            i += 1;
        }
    }
    out
}

/// The paths a `use` tree names (`a::{b, c::{self, D}}` → `a::b`, `a::c`, `a::c::D`).
fn use_paths(toks: &[Tok], i: &mut usize, prefix: &[String], out: &mut Vec<Vec<String>>) {
    let mut path = prefix.to_vec();
    loop {
        match toks.get(*i) {
            Some(Tok::Ident(id)) if id == "as" => {
                *i += 2; // the alias
            }
            Some(Tok::Ident(id))
                if id == "self" && path.len() == prefix.len() && !prefix.is_empty() =>
            {
                *i += 1;
            }
            Some(Tok::Ident(id)) => {
                path.push(id.clone());
                *i += 1;
            }
            Some(Tok::Colons) => *i += 1,
            Some(Tok::Punct('{')) => {
                *i += 1;
                loop {
                    use_paths(toks, i, &path, out);
                    match toks.get(*i) {
                        Some(Tok::Punct(',')) => *i += 1,
                        Some(Tok::Punct('}')) => {
                            *i += 1;
                            break;
                        }
                        _ => break,
                    }
                    if toks.get(*i) == Some(&Tok::Punct('}')) {
                        *i += 1;
                        break;
                    }
                }
                return;
            }
            Some(Tok::Punct('*')) => *i += 1,
            _ => {
                if path.len() > prefix.len() || !prefix.is_empty() {
                    out.push(path);
                }
                return;
            }
        }
    }
}

/// The crate-relative path a reference names, or `None` for another crate.
fn resolve(path: &[String], here: &[String]) -> Option<ModPath> {
    match path.first().map(String::as_str) {
        Some("crate") => Some(path[1..].to_vec()),
        Some("super") | Some("self") => {
            let mut cur = here.to_vec();
            let mut k = 0;
            while k < path.len() && (path[k] == "super" || path[k] == "self") {
                if path[k] == "super" {
                    cur.pop();
                }
                k += 1;
            }
            cur.extend_from_slice(&path[k..]);
            Some(cur)
        }
        _ => None,
    }
}

fn line_of(code: &str, at: usize) -> usize {
    code[..at].matches('\n').count() + 1
}

fn edges(src: &Path) -> Edges {
    let modules = module_files(src);
    let known: BTreeSet<&ModPath> = modules.keys().collect();
    let mut edges = Edges::new();
    for (here, file) in &modules {
        let mut code = code_only(&std::fs::read_to_string(file).unwrap());
        for (a, z) in test_items(&code) {
            let blanked: String = code[a..z]
                .chars()
                .map(|c| if c == '\n' { '\n' } else { ' ' })
                .collect();
            code.replace_range(a..z, &blanked);
        }
        let mut refs: Vec<(Vec<String>, usize)> = Vec::new();
        // `use` trees.
        let mut from = 0;
        while let Some(p) = code[from..].find("use ") {
            let at = from + p;
            from = at + 4;
            let word_start = at == 0
                || !code[..at]
                    .chars()
                    .next_back()
                    .is_some_and(|c| c.is_alphanumeric() || c == '_');
            if !word_start {
                continue;
            }
            let Some(end) = code[at..].find(';') else {
                continue;
            };
            let toks = tokens(&code[at + 4..at + end]);
            let mut paths = Vec::new();
            use_paths(&toks, &mut 0, &[], &mut paths);
            for p in paths {
                refs.push((p, line_of(&code, at)));
            }
        }
        // Paths in code: `crate::a::b`, `super::x`, `self::y`.
        let toks_with_pos: Vec<(usize, &str)> = code
            .match_indices(|c: char| !(c.is_alphanumeric() || c == '_' || c == ':'))
            .scan(0, |start, (i, _)| {
                let w = (*start, &code[*start..i]);
                *start = i + 1;
                Some(w)
            })
            .filter(|(_, w)| w.contains("::"))
            .collect();
        for (at, w) in toks_with_pos {
            let segs: Vec<String> = w.split("::").map(str::to_string).collect();
            if matches!(segs[0].as_str(), "crate" | "super" | "self") {
                refs.push((segs, line_of(&code, at)));
            }
        }
        for (path, line) in refs {
            let Some(target) = resolve(&path, here) else {
                continue;
            };
            let mut k = 0;
            while k < target.len() && known.contains(&target[..=k].to_vec()) {
                k += 1;
            }
            let to = &target[..k];
            let common = here.iter().zip(to).take_while(|(a, b)| a == b).count();
            if common == here.len() || common == to.len() {
                continue; // its own parent or children
            }
            let rel = file.strip_prefix(workspace()).unwrap_or(file).display();
            edges
                .entry(here[..common].to_vec())
                .or_default()
                .entry((here[common].clone(), to[common].clone()))
                .or_default()
                .push(format!("{rel}:{line}"));
        }
    }
    edges
}

/// Groups of sibling modules that import each other round a circle (Tarjan).
fn circles(siblings: &BTreeMap<(String, String), Vec<String>>) -> Vec<Vec<String>> {
    let mut graph: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for (a, b) in siblings.keys() {
        graph.entry(a).or_default().push(b);
        graph.entry(b).or_default();
    }
    struct State<'a> {
        index: BTreeMap<&'a str, usize>,
        low: BTreeMap<&'a str, usize>,
        stack: Vec<&'a str>,
        out: Vec<Vec<String>>,
    }
    fn visit<'a>(v: &'a str, g: &BTreeMap<&'a str, Vec<&'a str>>, s: &mut State<'a>) {
        let n = s.index.len();
        s.index.insert(v, n);
        s.low.insert(v, n);
        s.stack.push(v);
        for &w in &g[v] {
            if !s.index.contains_key(w) {
                visit(w, g, s);
                let lw = s.low[w];
                let lv = s.low.get_mut(v).unwrap();
                *lv = (*lv).min(lw);
            } else if s.stack.contains(&w) {
                let iw = s.index[w];
                let lv = s.low.get_mut(v).unwrap();
                *lv = (*lv).min(iw);
            }
        }
        if s.low[v] == s.index[v] {
            let mut group = Vec::new();
            while let Some(w) = s.stack.pop() {
                group.push(w.to_string());
                if w == v {
                    break;
                }
            }
            if group.len() > 1 {
                group.sort();
                s.out.push(group);
            }
        }
    }
    let mut s = State {
        index: BTreeMap::new(),
        low: BTreeMap::new(),
        stack: Vec::new(),
        out: Vec::new(),
    };
    for &v in graph.keys() {
        if !s.index.contains_key(v) {
            visit(v, &graph, &mut s);
        }
    }
    s.out
}

fn describe(
    parent: &[String],
    siblings: &BTreeMap<(String, String), Vec<String>>,
    group: &[String],
) -> String {
    let mut text = format!(
        "modules {} under `{}` import each other:",
        group.join(", "),
        if parent.is_empty() {
            "crate".to_string()
        } else {
            parent.join("::")
        }
    );
    for ((a, b), at) in siblings {
        if group.contains(a) && group.contains(b) {
            text.push_str(&format!("\n  {a} -> {b} at {}", at[0]));
        }
    }
    text
}

#[test]
fn no_two_modules_of_a_crate_import_each_other() {
    let mut problems = Vec::new();
    let mut modules = 0;
    for dir in SOURCES {
        let src = workspace().join(dir);
        modules += module_files(&src).len();
        for (parent, siblings) in edges(&src) {
            for group in circles(&siblings) {
                problems.push(format!("{dir}: {}", describe(&parent, &siblings, &group)));
            }
        }
    }
    assert!(
        modules > 100,
        "only {modules} modules found: the walk is broken"
    );
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn the_http_and_jws_seam_is_below_every_other_verifier_module() {
    let e = edges(&workspace().join("core/verifier/src"));
    let root = &e[&Vec::<String>::new()];
    // The seam exists and is used (the walk sees it), and it uses no other module.
    for seam in ["http", "jws"] {
        assert!(
            root.keys().any(|(_, b)| b == seam),
            "nothing uses core/verifier/src/{seam}.rs: the walk is broken"
        );
        let up: Vec<String> = root
            .iter()
            .filter(|((a, _), _)| a == seam)
            .map(|((_, b), at)| format!("{seam} -> {b} at {}", at[0]))
            .collect();
        assert!(up.is_empty(), "{}", up.join("\n"));
    }
}

#[test]
fn no_cli_command_uses_another() {
    let e = edges(&workspace().join("bindings/cli/src"));
    let root = &e[&Vec::<String>::new()];
    assert!(
        root.contains_key(&("commands".to_string(), "shared".to_string())),
        "the commands do not use shared.rs: the walk is broken"
    );
    let commands = vec!["commands".to_string()];
    let leaning: Vec<String> = e
        .get(&commands)
        .into_iter()
        .flatten()
        .map(|((a, b), at)| format!("commands::{a} -> commands::{b} at {}", at[0]))
        .collect();
    assert!(leaning.is_empty(), "{}", leaning.join("\n"));
}

#[test]
fn the_reader_sees_imports_through_comments_strings_and_test_code() {
    // The parser itself: a circle written in code is found; the same words in comments,
    // strings and #[cfg(test)] code are not edges.
    let code = code_only(
        "// use crate::b::X;\nuse crate::{a::{self, Y}, c::Z as W};\nfn f() { let s = \"crate::d::Q\"; let c = '\\''; crate::e::g(); }\n#[cfg(test)]\nmod tests { use crate::h::I; }\n",
    );
    let mut cleaned = code.clone();
    for (a, z) in test_items(&code) {
        cleaned.replace_range(a..z, &" ".repeat(z - a));
    }
    let at = cleaned.find("use ").unwrap();
    let end = cleaned[at..].find(';').unwrap();
    let mut paths = Vec::new();
    use_paths(&tokens(&cleaned[at + 4..at + end]), &mut 0, &[], &mut paths);
    let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();
    assert_eq!(
        paths,
        vec![
            s(&["crate", "a"]),
            s(&["crate", "a", "Y"]),
            s(&["crate", "c", "Z"])
        ]
    );
    assert!(!cleaned.contains("crate::b") && !cleaned.contains("crate::d"));
    assert!(cleaned.contains("crate::e::g") && !cleaned.contains("crate::h"));
    let mut g = BTreeMap::new();
    g.insert(("a".to_string(), "b".to_string()), vec![String::new()]);
    g.insert(("b".to_string(), "c".to_string()), vec![String::new()]);
    assert!(circles(&g).is_empty());
    g.insert(("c".to_string(), "a".to_string()), vec![String::new()]);
    assert_eq!(circles(&g), vec![s(&["a", "b", "c"])]);
}
