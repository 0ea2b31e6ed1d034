/// Task cancellation for the wallet's cancellable calls (docs/BINDINGS.md "Cancellation").
///
/// uniffi 0.32's generated async functions await a plain continuation and ignore `Task`
/// cancellation: a cancelled task would keep waiting for the Rust call to finish, and the call
/// would run to its end. The cancellable calls (`previewOffer`, `acceptOffer`, `pollDeferred`,
/// `startPresentation`, `receiveSessionRequest`) therefore take a `CancelToken`; this helper
/// raises it when the surrounding task is cancelled, so the Rust call stops as it does for a
/// cancelled Kotlin coroutine (nothing half-stored, the keys it made deleted) and throws
/// `KluisError.Cancelled`:
///
/// ```swift
/// let outcome = try await withCancellation { token in
///     try await wallet.acceptOffer(session: session, txCode: code, listener: nil, cancel: token)
/// }
/// ```
///
/// Not compiled on the Linux CI machine (needs Xcode); the token itself is tested from Kotlin
/// (`EventsTest.kt`).
public func withCancellation<T>(
    _ operation: (CancelToken) async throws -> T
) async throws -> T {
    let token = CancelToken()
    return try await withTaskCancellationHandler {
        try await operation(token)
    } onCancel: {
        token.cancel()
    }
}
