// The collector's hot paths (scrape parsing, rule evaluation) allocate many small,
// short-lived vectors and strings from several threads; mimalloc serves them with less
// CPU than glibc's malloc and gives memory back without long consolidation passes
// (BENCHMARKS.md, "The collector at mesh scale"). Without transparent huge pages
// (`no_thp`): with them its RSS was a third higher. It builds from its bundled C source
// with the machine's C compiler; no system library is needed.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    meshscope::cli::main()
}
