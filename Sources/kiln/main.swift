print("kiln: not yet")
