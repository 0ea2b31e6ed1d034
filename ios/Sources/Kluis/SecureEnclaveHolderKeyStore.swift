// Holder keys in the Secure Enclave (hand-written; Kluis.swift beside it is generated).
// Not compiled in CI here (no Swift toolchain for Apple targets on Linux): see docs/BINDINGS.md.
import CryptoKit
import Foundation
import LocalAuthentication
import Security

/// One non-exportable P-256 signing key per credential copy in the Secure Enclave. The enclave
/// hands out only an encrypted blob (`dataRepresentation`) that this device's enclave alone can
/// use; it is kept in the Keychain (this device only, not synchronised, not in backups), so the
/// private key never exists outside the enclave. iOS has no per-key attestation chain:
/// `attestationChain` is empty (App Attest is a separate, app-level service).
///
/// With `requireUserPresence` every signature needs Face ID / Touch ID or the passcode; the
/// system shows its prompt when the wallet asks for a signature, with `promptReason` as text. A
/// dismissed prompt is `HolderKeyError.Cancelled`; no enrolled biometry or passcode is
/// `UserAuthenticationRequired`.
public final class SecureEnclaveHolderKeyStore: HolderKeyStore, @unchecked Sendable {
    private let requireUserPresence: Bool
    private let promptReason: String
    private let service = "nl.kluis.holder-key"

    public init(requireUserPresence: Bool = false, promptReason: String = "Sign with your wallet key") {
        self.requireUserPresence = requireUserPresence
        self.promptReason = promptReason
    }

    public func createKey(keyId: String, attestationChallenge: Data?) async throws -> HolderKeyInfo {
        guard SecureEnclave.isAvailable else {
            throw HolderKeyError.Unavailable(reason: "no Secure Enclave")
        }
        var flags: SecAccessControlCreateFlags = [.privateKeyUsage]
        if requireUserPresence { flags.insert(.userPresence) }
        var cfError: Unmanaged<CFError>?
        guard let access = SecAccessControlCreateWithFlags(
            nil, kSecAttrAccessibleWhenUnlockedThisDeviceOnly, flags, &cfError
        ) else {
            throw HolderKeyError.Unavailable(reason: "access control")
        }
        do {
            let key = try SecureEnclave.P256.Signing.PrivateKey(accessControl: access)
            try storeBlob(key.dataRepresentation, keyId: keyId)
            return HolderKeyInfo(publicKey: key.publicKey.x963Representation, attestationChain: [])
        } catch let e as HolderKeyError {
            throw e
        } catch {
            throw HolderKeyError.Unavailable(reason: "making the key")
        }
    }

    public func sign(keyId: String, signingInput: Data) async throws -> Data {
        guard let blob = try loadBlob(keyId: keyId) else { throw HolderKeyError.KeyGone }
        let context = LAContext()
        context.localizedReason = promptReason
        do {
            let key = try SecureEnclave.P256.Signing.PrivateKey(
                dataRepresentation: blob, authenticationContext: context
            )
            // SHA-256 inside; the wallet reads DER or raw r||s.
            return try key.signature(for: signingInput).derRepresentation
        } catch let e as LAError {
            switch e.code {
            case .userCancel, .appCancel, .systemCancel, .userFallback:
                throw HolderKeyError.Cancelled
            case .biometryNotEnrolled, .passcodeNotSet, .biometryLockout, .authenticationFailed:
                throw HolderKeyError.UserAuthenticationRequired
            default:
                throw HolderKeyError.Unavailable(reason: "authentication \(e.code.rawValue)")
            }
        } catch {
            // A blob another enclave made (restored backup on a new phone) does not load.
            throw HolderKeyError.KeyGone
        }
    }

    public func deleteKey(keyId: String) async throws {
        let status = SecItemDelete(query(keyId) as CFDictionary)
        guard status == errSecSuccess || status == errSecItemNotFound else {
            throw HolderKeyError.Unavailable(reason: "keychain \(status)")
        }
    }

    private func query(_ keyId: String) -> [String: Any] {
        [kSecClass as String: kSecClassGenericPassword,
         kSecAttrService as String: service,
         kSecAttrAccount as String: keyId]
    }

    private func storeBlob(_ blob: Data, keyId: String) throws {
        var attributes = query(keyId)
        attributes[kSecValueData as String] = blob
        attributes[kSecAttrAccessible as String] = kSecAttrAccessibleWhenUnlockedThisDeviceOnly
        attributes[kSecAttrSynchronizable as String] = false
        let status = SecItemAdd(attributes as CFDictionary, nil)
        guard status == errSecSuccess else { throw HolderKeyError.Unavailable(reason: "keychain \(status)") }
    }

    private func loadBlob(keyId: String) throws -> Data? {
        var q = query(keyId)
        q[kSecReturnData as String] = true
        q[kSecMatchLimit as String] = kSecMatchLimitOne
        var item: CFTypeRef?
        let status = SecItemCopyMatching(q as CFDictionary, &item)
        if status == errSecItemNotFound { return nil }
        guard status == errSecSuccess, let data = item as? Data else {
            throw HolderKeyError.Unavailable(reason: "keychain \(status)")
        }
        return data
    }
}
