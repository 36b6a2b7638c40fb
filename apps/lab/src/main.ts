console.log("lab");
