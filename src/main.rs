fn main() -> std::process::ExitCode {
    meshscope::cli::main()
}
