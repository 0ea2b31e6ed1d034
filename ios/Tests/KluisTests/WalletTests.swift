// The binding's plumbing from Swift (run on a Mac: ios/scripts/build-xcframework.sh, then KLUIS_LOCAL_XCFRAMEWORK=1 swift test in the repository root).
// Not compiled in CI here: Linux has no Swift toolchain for Apple targets; the freshness check
// keeps Sources/Kluis in step with the Rust API.
import Foundation
import XCTest
@testable import Kluis

final class MemoryKeyStore: DeviceKeyStore, @unchecked Sendable {
    private var secrets: [String: Data] = [:]
    private let lock = NSLock()
    var available = true

    func deviceSecret(vaultId: String) throws -> Data {
        lock.lock(); defer { lock.unlock() }
        guard available else { throw DeviceKeyStoreError.Unavailable(reason: "user authentication required") }
        if let s = secrets[vaultId] { return s }
        var bytes = [UInt8](repeating: 0, count: 32)
        _ = SecRandomCopyBytes(kSecRandomDefault, bytes.count, &bytes)
        secrets[vaultId] = Data(bytes)
        return Data(bytes)
    }

    func deleteDeviceSecret(vaultId: String) throws {
        lock.lock(); defer { lock.unlock() }
        secrets[vaultId] = nil
        counters[vaultId] = nil
    }

    // In memory here; an app keeps it in a Keychain item (kSecAttrAccessibleAfterFirstUnlockThisDeviceOnly),
    // outside the vault file and its backups (docs/BINDINGS.md).
    private var counters: [String: UInt64] = [:]

    func keepsRollbackCounter() -> Bool { true }

    func rollbackCounter(vaultId: String) throws -> UInt64? {
        lock.lock(); defer { lock.unlock() }
        return counters[vaultId]
    }

    func raiseRollbackCounter(vaultId: String, value: UInt64) throws {
        lock.lock(); defer { lock.unlock() }
        counters[vaultId] = max(counters[vaultId] ?? 0, value)
    }
}

final class WalletTests: XCTestCase {
    private func tempDir() -> String {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("kluis-\(UUID().uuidString)")
        return url.path
    }

    func testCreateWrongPinUnlockLockWipe() async throws {
        let store = MemoryKeyStore()
        let dir = tempDir()
        let wallet = try await Wallet.create(dir: dir, pin: "246810", options: dangerousTestWalletOptions(), keyStore: store)
        XCTAssertTrue(wallet.isUnlocked())
        wallet.lock()
        do {
            try await wallet.unlock(pin: "000000")
            XCTFail("a wrong PIN must fail")
        } catch let KluisError.WrongPin(attemptsLeft, retryAfterSecs) {
            XCTAssertEqual(attemptsLeft, 9)
            XCTAssertEqual(retryAfterSecs, 0)
        }
        try await wallet.unlock(pin: "246810")
        XCTAssertTrue(wallet.isUnlocked())
        XCTAssertTrue(try await wallet.credentials(lang: "nl").isEmpty)
        try await wallet.wipe()
        XCTAssertFalse(walletExists(dir: dir))
    }
}
