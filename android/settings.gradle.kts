// Gradle build of the kluis Android library (nl.kluis). Not run in CI here (no Android SDK,
// no Maven Central): the JVM tests run through bindings/test-foreign.sh with kotlinc directly.
pluginManagement {
    repositories {
        google()
        mavenCentral()
        gradlePluginPortal()
    }
}
dependencyResolutionManagement {
    repositories {
        google()
        mavenCentral()
    }
}
rootProject.name = "kluis-android"
include(":kluis")
