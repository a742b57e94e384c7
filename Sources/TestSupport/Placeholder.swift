// Mock virtio driver: see MockVirtioDriver.swift
