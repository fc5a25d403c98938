fn main() {
    let path = std::env::args().nth(1).unwrap();
    let mut sm = segc::diag::SourceMap::new();
    let text = std::fs::read_to_string(&path).unwrap();
    let id = sm.add(path.clone(), segc::diag::Origin::User(path.into()), text);
    let (file, diags) = segc::syntax::parse(&sm, id);
    println!("{} items, {} comments", file.items.len(), file.comments.len());
    print!("{}", segc::diag::render_all(&sm, &diags, segc::diag::ColorChoice::Never));
}
