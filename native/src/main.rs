fn main() -> std::process::ExitCode {
    bitfleet::cli::main()
}
