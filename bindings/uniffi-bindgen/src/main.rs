//! `uniffi-bindgen`: generates the Kotlin, Swift and Python bindings of `kluis-ffi`.
//!
//! It lives in the workspace so the generator is always the exact uniffi version the
//! library was built with (a mismatch gives a contract-version error at load time).
//! Use library mode:
//! `cargo run -p uniffi-bindgen -- generate --library target/debug/libkluis_ffi.so --language kotlin --out-dir OUT`

fn main() {
    uniffi::uniffi_bindgen_main()
}
