//! Write the bundled dashboards' JSON: `cargo run -p meshscope-dashboards --example generate`.

fn main() -> std::io::Result<()> {
    let dir = meshscope_dashboards::repo_root().join(meshscope_dashboards::JSON_DIR);
    for p in meshscope_dashboards::write_all(&dir)? {
        println!("{}", p.display());
    }
    Ok(())
}
