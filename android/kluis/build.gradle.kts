// The kluis Android library: generated uniffi Kotlin (package nl.kluis), a thin Kotlin layer,
// and the Rust core as jniLibs for arm64-v8a, armeabi-v7a and x86_64 (see build-native.sh).
import org.gradle.api.tasks.Exec

plugins {
    id("com.android.library")
    id("org.jetbrains.kotlin.android")
}

val repoRoot = rootDir.parentFile
val generatedKotlin = layout.buildDirectory.dir("generated/uniffi/kotlin")
val jniLibsDir = layout.buildDirectory.dir("rustJniLibs")

android {
    namespace = "nl.kluis"
    compileSdk = 35
    defaultConfig {
        minSdk = 26
        consumerProguardFiles("consumer-rules.pro")
    }
    compileOptions {
        sourceCompatibility = JavaVersion.VERSION_17
        targetCompatibility = JavaVersion.VERSION_17
    }
    sourceSets["main"].java.srcDir(generatedKotlin)
    sourceSets["main"].jniLibs.srcDir(jniLibsDir)
    testOptions.unitTests.all {
        // JVM unit tests load the host build of the library (cargo build -p kluis-ffi).
        it.systemProperty("jna.library.path", File(repoRoot, "target/debug").path)
        it.systemProperty("kluis.sampleIssuer", File(repoRoot, "target/debug/examples/sample_issuer").path)
        // The simulated holders and requesting parties (cargo build -p kluis-fixtures).
        it.systemProperty("kluis.fixtures", File(repoRoot, "target/debug/kluis-fixtures").path)
        it.systemProperty("kluis.typeMetadataDir", File(repoRoot, "fixtures/metadata").path)
    }
}

kotlin {
    jvmToolchain(17)
}

dependencies {
    implementation("net.java.dev.jna:jna:5.13.0@aar")
    implementation("org.jetbrains.kotlinx:kotlinx-coroutines-core:1.10.2")
    testImplementation("net.java.dev.jna:jna:5.13.0")
    testImplementation("junit:junit:4.13.2")
}

// Cross-compiles the core for the device ABIs into build/rustJniLibs (cargo-ndk, Android NDK).
val buildRust by tasks.registering(Exec::class) {
    workingDir = projectDir
    commandLine("./build-native.sh", jniLibsDir.get().asFile.path)
}

// Generates the Kotlin bindings from the host library's uniffi metadata.
val generateBindings by tasks.registering(Exec::class) {
    workingDir = repoRoot
    commandLine(
        "sh", "-c",
        "cargo build -q -p kluis-ffi --lib && cargo run -q -p uniffi-bindgen -- generate --no-format " +
            "--library target/debug/libkluis_ffi.so --language kotlin --out-dir ${generatedKotlin.get().asFile.path}",
    )
}

tasks.named("preBuild") { dependsOn(generateBindings, buildRust) }

// The host tools the JVM unit tests run: the sample issuer and the simulated holders and parties.
val buildTestTools by tasks.registering(Exec::class) {
    workingDir = repoRoot
    commandLine(
        "sh", "-c",
        "cargo build -q -p kluis-ffi --example sample_issuer && cargo build -q -p kluis-fixtures --bin kluis-fixtures",
    )
}

tasks.withType<Test>().configureEach { dependsOn(buildTestTools) }
