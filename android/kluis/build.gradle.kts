// The kluis Android library: generated uniffi Kotlin (package nl.kluis), a thin Kotlin layer,
// and the Rust core as jniLibs for arm64-v8a, armeabi-v7a and x86_64. Published as an AAR with
// sources (docs/BINDINGS.md "Packaging"): ./gradlew :kluis:publishReleasePublicationToLocalRepository
// writes android/build/maven; ./gradlew :kluis:publishToMavenLocal writes ~/.m2.

plugins {
    id("com.android.library")
    id("org.jetbrains.kotlin.android")
    `maven-publish`
}

val repoRoot = rootDir.parentFile
val generatedKotlin = layout.buildDirectory.dir("generated/uniffi/kotlin")
// Written by build-native.sh (AGP's default jniLibs directory, git-ignored), not by this build:
// cross-compiling three ABIs with fat LTO takes minutes, so it is not part of every app build.
val jniLibsDir = file("src/main/jniLibs")
val abis = listOf("arm64-v8a", "armeabi-v7a", "x86_64")
// The host build the Kotlin is generated from and the JVM unit tests load.
val hostLibrary = File(
    repoRoot,
    if (System.getProperty("os.name").startsWith("Mac")) "target/debug/libkluis_ffi.dylib" else "target/debug/libkluis_ffi.so",
)

group = providers.gradleProperty("kluis.group").get()
version = providers.gradleProperty("kluis.version").get()

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
    testOptions.unitTests.all {
        // JVM unit tests load the host build of the library (cargo build -p kluis-ffi).
        it.systemProperty("jna.library.path", hostLibrary.parentFile.path)
        it.systemProperty("kluis.sampleIssuer", File(repoRoot, "target/debug/examples/sample_issuer").path)
        // The simulated holders and requesting parties (cargo build -p kluis-fixtures).
        it.systemProperty("kluis.fixtures", File(repoRoot, "target/debug/kluis-fixtures").path)
        it.systemProperty("kluis.typeMetadataDir", File(repoRoot, "fixtures/metadata").path)
    }
    publishing {
        singleVariant("release") {
            withSourcesJar()
        }
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

publishing {
    publications {
        register<MavenPublication>("release") {
            groupId = providers.gradleProperty("kluis.group").get()
            artifactId = providers.gradleProperty("kluis.artifactId").get()
            version = providers.gradleProperty("kluis.version").get()
            // AGP creates the component late in configuration.
            afterEvaluate { from(components["release"]) }
            pom {
                name.set("kluis")
                description.set("The kluis citizen's data wallet core for Android: Kotlin API over the Rust library.")
                licenses {
                    license {
                        name.set("EUPL-1.2")
                        url.set("https://interoperable-europe.ec.europa.eu/collection/eupl/eupl-text-eupl-12")
                    }
                }
            }
        }
    }
    repositories {
        // A Maven repository in a directory: an app adds maven { url = uri(".../android/build/maven") }.
        maven {
            name = "local"
            url = uri(rootProject.layout.buildDirectory.dir("maven"))
        }
    }
}

// The cross-compile, for when an app developer wants it from Gradle: ./gradlew :kluis:buildNativeLibs.
val buildNativeLibs by tasks.registering(Exec::class) {
    workingDir = projectDir
    commandLine("./build-native.sh", jniLibsDir.path)
}

// A release AAR without the device libraries would fail at the first call on a phone.
val checkNativeLibs by tasks.registering {
    doLast {
        val missing = abis.map { File(jniLibsDir, "$it/libkluis_ffi.so") }.filterNot { it.isFile }
        if (missing.isNotEmpty()) {
            throw GradleException("missing ${missing.joinToString()}: run android/kluis/build-native.sh first")
        }
    }
}
tasks.matching { it.name == "preReleaseBuild" }.configureEach { dependsOn(checkNativeLibs) }

// Generates the Kotlin bindings from the host library's uniffi metadata (Linux .so or macOS .dylib:
// the metadata is the same, so the Kotlin is too).
val generateBindings by tasks.registering(Exec::class) {
    workingDir = repoRoot
    commandLine(
        "sh", "-c",
        "cargo build -q -p kluis-ffi --lib && cargo run -q -p uniffi-bindgen -- generate --no-format " +
            "--library ${hostLibrary.path} --language kotlin --out-dir ${generatedKotlin.get().asFile.path}",
    )
}

tasks.named("preBuild") { dependsOn(generateBindings) }

// The host tools the JVM unit tests run: the sample issuer and the simulated holders and parties.
val buildTestTools by tasks.registering(Exec::class) {
    workingDir = repoRoot
    commandLine(
        "sh", "-c",
        "cargo build -q -p kluis-ffi --example sample_issuer && cargo build -q -p kluis-fixtures --bin kluis-fixtures",
    )
}

tasks.withType<Test>().configureEach { dependsOn(buildTestTools) }
